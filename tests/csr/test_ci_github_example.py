"""docs/ci/github-actions.yml, checked and run: it is valid against the workflow schema
(action-validator), uses the current majors of the hosted actions, and its jobs' steps run in
order on a repository whose pull request adds the index migration. A push to the default
branch warms the cache, the pull request restores it and reuses the built database, and the
service-container job runs against a PostgreSQL the test starts, by DSN."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ci_examples import FEW_CASES, ExampleRepo, ci_tool, example_repo, load_yaml, service_postgres
from forge import Forge, fake_forge
from github_steps import Job

from support import REPO

EXAMPLE = REPO / "docs" / "ci" / "github-actions.yml"
# The newest majors on 2026-11-30 (their release notes: checkout v7, setup-python v7,
# cache v6, upload-artifact v7; action-junit-report v6).
CURRENT = {"actions/checkout": "v7", "actions/setup-python": "v7", "actions/cache": "v6",
           "actions/cache/restore": "v6", "actions/upload-artifact": "v7",
           "mikepenz/action-junit-report": "v6"}


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ci_tool("action-validator")), str(path)], capture_output=True,
                          text=True, check=False)


def test_the_workflow_is_valid_against_the_schema(tmp_path: Path) -> None:
    assert validate(EXAMPLE).returncode == 0, validate(EXAMPLE).stdout
    broken = tmp_path / "broken.yml"
    broken.write_text(EXAMPLE.read_text().replace("runs-on:", "runs_on:", 1))
    assert validate(broken).returncode != 0  # the validator does reject a wrong key


def test_the_workflow_uses_current_actions_least_privilege_and_one_run_per_branch() -> None:
    workflow = load_yaml(EXAMPLE)
    used = {step["uses"] for job in workflow["jobs"].values() for step in job["steps"]
            if "uses" in step}
    assert {u.partition("@")[0]: u.partition("@")[2] for u in used} == CURRENT
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True


@pytest.fixture(scope="module")
def workflow() -> Any:
    workflow = load_yaml(EXAMPLE)
    workflow["env"]["PLAN_HARNESS_ARGS"] = FEW_CASES
    return workflow


@pytest.fixture(scope="module")
def repo() -> Iterator[ExampleRepo]:
    with example_repo() as repo:
        yield repo


def github(event: str, ref: str, api_url: str = "http://127.0.0.1:9") -> dict[str, Any]:
    return {"event_name": event, "ref": ref, "base_ref": "main" if event == "pull_request" else "",
            "repository": "team/plan-harness", "event": {"pull_request": {"number": 7}},
            "token": "test-token", "api_url": api_url}


def the_comment(forge: Forge, marker: str) -> str:
    """The one comment carrying the job's marker (none other may)."""
    ours = [c["body"] for c in forge.comments if f"plan-harness comment: {marker}" in c["body"]]
    assert len(ours) == 1, forge.comments
    return str(ours[0])


def outcomes(job: Job) -> dict[str, str]:
    return {r.name: r.outcome for r in job.results}


def output(job: Job) -> str:
    return "\n".join(f"--- {r.name}: {r.outcome}\n{r.output}" for r in job.results)


def test_a_push_warms_the_cache_and_the_pull_request_reuses_it(
        repo: ExampleRepo, workflow: Any, wheelhouse: dict[str, str]) -> None:
    store, artifacts = repo.path.parent / "actions-cache", repo.path.parent / "artifacts"
    store.mkdir()
    repo.checkout("main")
    # the install steps take the packages from the session's wheelhouse
    warm = Job(workflow, "warm-cache", repo.path, github("push", "refs/heads/main"), store,
               artifacts, env_overrides=wheelhouse)
    warm.run()
    assert not warm.failed, output(warm)[-4000:]
    saved = [p.name for p in store.iterdir()]
    assert len(saved) == 1 and re.fullmatch(r"plan-harness-Linux-[\d.]+-[0-9a-f]{64}", saved[0])
    repo.checkout("feature")
    with fake_forge() as forge:
        compare = Job(workflow, "compare-embedded", repo.path,
                      github("pull_request", "refs/pull/7/merge", forge.url), store, artifacts,
                      env_overrides=wheelhouse)
        compare.run()
    assert not compare.failed, output(compare)[-4000:]
    comment = the_comment(forge, "compare-embedded")
    assert comment.startswith("## plan-harness")
    assert "(https://github.example/team/plan-harness/actions/runs/1/artifacts/1)" in comment
    text = output(compare)
    # restored by prefix (the pull request changed the migrations) and reused as it is
    assert f"restored {saved[0]}" in text
    assert "reusing the built database" in text
    assert "Migration check passed: 20250115000000 -> 20250130000000" in text
    assert (repo.path.parent / ".github_step_summary").read_text().startswith("## plan-harness")
    assert (artifacts / "plan-harness-report" / "capacity-projected" / "summary.md").exists()
    assert [p.name for p in store.iterdir()] == saved  # a pull request never saves


def test_the_service_container_job_runs_the_plans_by_dsn(
        repo: ExampleRepo, workflow: Any, tmp_path: Path, wheelhouse: dict[str, str]) -> None:
    repo.checkout("feature")
    with service_postgres() as dsn, fake_forge() as forge:
        job = Job(workflow, "plans-service-container", repo.path,
                  github("pull_request", "refs/pull/7/merge", forge.url), tmp_path / "cache",
                  tmp_path / "artifacts", env_overrides={**wheelhouse, "PLAN_HARNESS_DSN": dsn})
        job.run()
        with psycopg.connect(dsn) as conn:
            left = conn.execute("SELECT count(*) FROM pg_database "
                                "WHERE datname LIKE 'plan_harness_%'").fetchone()
    assert not job.failed, output(job)[-4000:]
    assert left == (0,)
    assert set(outcomes(job).values()) == {"success"}
    assert the_comment(forge, "plans-service-container").startswith("## plan-harness")
    junit = ET.parse(tmp_path / "artifacts" / "plan-harness-report-dsn" / "junit.xml")
    names = [c.get("name", "") for c in junit.getroot().iter("testcase")]
    assert len(names) == 5 and {n.split("[")[0] for n in names} == {"rep_calls"}
