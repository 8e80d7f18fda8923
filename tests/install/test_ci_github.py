"""`plan-harness init team --ci github`, from the installed wheel: the workflow is valid
against the schema (action-validator), uses the current majors of the hosted actions with
least privilege, and its jobs' steps run in order (tests/github_steps.py) on another team's
repository: on a push the plans job passes; on a pull request whose migration drops the
template's index the compare job fails naming it and keeps one comment (a local stand-in
API). The install steps take the harness, by PLAN_HARNESS_REQUIREMENT as written, from the
session's wheelhouse."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ci_examples import FEW_RUNS, TEMPLATE_INDEX, TeamRepo, ci_tool, load_yaml, team_repo
from forge import Forge, fake_forge
from github_steps import Job

WORKFLOW = Path(".github") / "workflows" / "plans.yml"
# The newest majors on 2026-11-30 (their release notes: checkout v7, setup-python v7,
# cache v6, upload-artifact v7; action-junit-report v6).
CURRENT = {"actions/checkout": "v7", "actions/setup-python": "v7", "actions/cache": "v6",
           "actions/cache/restore": "v6", "actions/upload-artifact": "v7",
           "mikepenz/action-junit-report": "v6"}


@pytest.fixture(scope="module")
def repo(installed_harness: Path) -> Iterator[TeamRepo]:
    with team_repo(installed_harness, "github") as repo:
        yield repo


@pytest.fixture(scope="module")
def workflow(repo: TeamRepo) -> Any:
    workflow = load_yaml(repo.path / WORKFLOW)
    workflow["env"]["PLAN_HARNESS_ARGS"] = FEW_RUNS
    return workflow


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ci_tool("action-validator")), str(path)], capture_output=True,
                          text=True, check=False)


def test_the_workflow_is_valid_current_and_least_privileged(repo: TeamRepo, workflow: Any,
                                                            tmp_path: Path) -> None:
    checked = validate(repo.path / WORKFLOW)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text((repo.path / WORKFLOW).read_text().replace("runs-on:", "runs_on:", 1))
    assert validate(broken).returncode != 0  # the validator does reject a wrong key
    used = {step["uses"] for job in workflow["jobs"].values() for step in job["steps"]
            if "uses" in step}
    assert {u.partition("@")[0]: u.partition("@")[2] for u in used} == CURRENT
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "services" not in str(workflow)  # the embedded PostgreSQL only


def github(event: str, ref: str, api_url: str = "http://127.0.0.1:9") -> dict[str, Any]:
    return {"event_name": event, "ref": ref, "base_ref": "main" if event == "pull_request" else "",
            "repository": "team/plans", "event": {"pull_request": {"number": 7}},
            "token": "test-token", "api_url": api_url}


def output(job: Job) -> str:
    return "\n".join(f"--- {r.name}: {r.outcome}\n{r.output}" for r in job.results)


def test_a_push_runs_the_plans(repo: TeamRepo, workflow: Any, wheelhouse: dict[str, str],
                               tmp_path: Path) -> None:
    repo.checkout("main")
    job = Job(workflow, "plans", repo.path, github("push", "refs/heads/main"),
              tmp_path / "cache", tmp_path / "artifacts", env_overrides=wheelhouse)
    job.run()
    assert not job.failed, output(job)[-4000:]
    assert {r.outcome for r in job.results} == {"success"}
    junit = ET.parse(tmp_path / "artifacts" / "plan-harness-report" / "junit.xml")
    assert len(list(junit.getroot().iter("testcase"))) == 2


def the_comment(forge: Forge, marker: str) -> str:
    ours = [c["body"] for c in forge.comments if f"plan-harness comment: {marker}" in c["body"]]
    assert len(ours) == 1, forge.comments
    return str(ours[0])


def test_a_pull_request_dropping_the_index_fails_and_keeps_one_comment(
        repo: TeamRepo, workflow: Any, wheelhouse: dict[str, str], tmp_path: Path) -> None:
    repo.checkout("feature")
    with fake_forge() as forge:
        job = Job(workflow, "compare", repo.path,
                  github("pull_request", "refs/pull/7/merge", forge.url), tmp_path / "cache",
                  tmp_path / "artifacts", env_overrides=wheelhouse)
        job.run()
    outcomes = {r.name: r.outcome for r in job.results}
    assert outcomes["Compare the base branch's head revision with this one"] == "failure", \
        output(job)[-4000:]
    text = output(job)
    assert "base revision 0002: the head of the migrations at origin/main" in text
    assert f"{TEMPLATE_INDEX} does not exist at revision 0003" in text
    assert "::error file=scenarios/account_feed.toml" in text
    comment = the_comment(forge, "compare")
    assert TEMPLATE_INDEX in comment
    assert outcomes["The summary as the pull request's comment (one, edited on every push)"] \
        == "success"
    assert (tmp_path / "artifacts" / "plan-harness-compare" / "base" / "results.json").exists()
