"""`plan-harness init team --ci gitlab`, from the installed wheel, run as another team's
pipeline with gitlab-ci-local's shell executor: on the default branch the plans job passes;
on a merge request whose migration drops the template's index the compare job fails naming
it, and its after_script keeps one note on the merge request (a local stand-in API). The
jobs install the harness as the file says, by PLAN_HARNESS_REQUIREMENT, from the session's
wheelhouse."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_examples import FEW_RUNS, TEMPLATE_INDEX, TeamRepo, ci_tool, job_environment, team_repo
from forge import fake_forge

PREDEFINED_SET_HERE = ("CI_PIPELINE_SOURCE,CI_MERGE_REQUEST_TARGET_BRANCH_NAME,CI_API_V4_URL,"
                       "CI_PROJECT_ID,CI_MERGE_REQUEST_IID")
MERGE_REQUEST = ("CI_PIPELINE_SOURCE=merge_request_event",
                 "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main")


def run_job(repo: TeamRepo, pip: dict[str, str], job: str,
            *variables: str) -> subprocess.CompletedProcess[str]:
    command = [str(ci_tool("gitlab-ci-local")), "--force-shell-executor",
               "--ignore-predefined-vars", PREDEFINED_SET_HERE,
               "--variable", f"PLAN_HARNESS_ARGS={FEW_RUNS}"]
    for variable in variables:
        command += ["--variable", variable]
    return subprocess.run([*command, job], cwd=repo.path, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600,
                          env=job_environment(pip), check=False)


@pytest.fixture(scope="module")
def repo(installed_harness: Path) -> Iterator[TeamRepo]:
    with team_repo(installed_harness, "gitlab") as repo:
        yield repo


def artifacts(repo: TeamRepo, job: str) -> Path:
    return repo.path / ".gitlab-ci-local" / "artifacts" / job


def test_the_plans_job_passes_on_the_default_branch(repo: TeamRepo,
                                                    wheelhouse: dict[str, str]) -> None:
    repo.checkout("main")
    job = run_job(repo, wheelhouse, "plans")
    assert job.returncode == 0, job.stdout[-3000:]
    junit = ET.parse(artifacts(repo, "plans") / "reports" / "junit.xml")
    names = [c.get("name", "") for c in junit.getroot().iter("testcase")]
    assert len(names) == 2 and {n.split("[")[0] for n in names} == {"account_feed"}


def test_a_merge_request_dropping_the_index_fails_and_keeps_one_note(
        repo: TeamRepo, wheelhouse: dict[str, str]) -> None:
    repo.checkout("feature")
    with fake_forge() as forge:
        job = run_job(repo, wheelhouse, "compare", *MERGE_REQUEST,
                      f"CI_API_V4_URL={forge.url}/api/v4", "CI_PROJECT_ID=42",
                      "CI_MERGE_REQUEST_IID=3", "PLAN_HARNESS_GITLAB_TOKEN=glpat-test")
    assert job.returncode != 0, job.stdout[-3000:]
    assert "base revision 0002: the head of the migrations at origin/main" in job.stdout
    assert f"{TEMPLATE_INDEX} does not exist at revision 0003" in job.stdout
    notes = [c["body"] for c in forge.comments]
    assert len(notes) == 1 and "<!-- plan-harness comment: compare -->" in notes[0]
    assert TEMPLATE_INDEX in notes[0]
    assert [p for m, p, _ in forge.requests if m == "POST"] == [
        "/api/v4/projects/42/merge_requests/3/notes"]
    reports = artifacts(repo, "compare") / "reports"
    assert (reports / "base" / "results.json").exists()
