"""docs/ci/gitlab-ci.yml, run: its jobs execute end to end with gitlab-ci-local's shell
executor on a repository whose merge request adds the index migration. The default branch's
job warms the seeded-database cache, the merge request's compare job reuses it, and the
service-container job runs against a PostgreSQL the test starts, by DSN."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from ci_examples import (
    FEW_CASES,
    ExampleRepo,
    ci_tool,
    example_repo,
    job_environment,
    load_yaml,
    service_postgres,
)
from forge import Forge, fake_forge

from support import REPO

EXAMPLE = REPO / "docs" / "ci" / "gitlab-ci.yml"
PREDEFINED_SET_HERE = ("CI_PIPELINE_SOURCE,CI_MERGE_REQUEST_TARGET_BRANCH_NAME,CI_API_V4_URL,"
                       "CI_PROJECT_ID,CI_MERGE_REQUEST_IID")
MERGE_REQUEST = ("CI_PIPELINE_SOURCE=merge_request_event",
                 "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main")


def note_variables(forge: Forge) -> tuple[str, ...]:
    """Where the merge request's notes go: the stand-in forge."""
    return (f"CI_API_V4_URL={forge.url}/api/v4", "CI_PROJECT_ID=42", "CI_MERGE_REQUEST_IID=3",
            "PLAN_HARNESS_GITLAB_TOKEN=glpat-test")


def run_job(repo: ExampleRepo, pip: dict[str, str], job: str,
            *variables: str) -> subprocess.CompletedProcess[str]:
    """gitlab-ci-local runs `job`; its install step takes the packages from the session's
    wheelhouse (`pip`: the settings of ci_examples.build_wheelhouse)."""
    command = [str(ci_tool("gitlab-ci-local")), "--force-shell-executor",
               "--ignore-predefined-vars", PREDEFINED_SET_HERE,
               "--variable", f"PLAN_HARNESS_ARGS={FEW_CASES}"]
    for variable in variables:
        command += ["--variable", variable]
    return subprocess.run([*command, job], cwd=repo.path, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600,
                          env=job_environment(pip), check=False)


@pytest.fixture(scope="module")
def repo() -> Iterator[ExampleRepo]:
    with example_repo() as repo:
        pipeline = load_yaml(EXAMPLE)
        # No Docker here: the service is dropped and the test's PostgreSQL stands in for it
        # (YAML takes JSON, so the pipeline is written back as JSON).
        assert pipeline["plans-service-container"].pop("services")
        (repo.path / ".gitlab-ci.yml").write_text(json.dumps(pipeline, indent=1))
        yield repo


def artifacts(repo: ExampleRepo, job: str) -> Path:
    return repo.path / ".gitlab-ci-local" / "artifacts" / job


def test_the_default_branch_warms_the_cache_and_the_merge_request_reuses_it(
        repo: ExampleRepo, wheelhouse: dict[str, str]) -> None:
    repo.checkout("main")
    warm = run_job(repo, wheelhouse, "warm-cache")
    assert warm.returncode == 0, warm.stdout[-3000:]
    assert "kept the built database" in warm.stdout
    repo.checkout("feature")
    with fake_forge() as forge:
        compare = run_job(repo, wheelhouse, "compare-embedded", *MERGE_REQUEST,
                          *note_variables(forge))
    assert compare.returncode == 0, compare.stdout[-3000:]
    notes = [c["body"] for c in forge.comments]
    assert len(notes) == 1 and notes[0].startswith("## plan-harness")
    assert "<!-- plan-harness comment: compare-embedded -->" in notes[0]
    assert "/artifacts/file/reports/index.html)" in notes[0]
    assert [p for m, p, _ in forge.requests if m == "POST"] == [
        "/api/v4/projects/42/merge_requests/3/notes"]
    # the merge request's new migration does not invalidate the default branch's data
    assert "reusing the built database" in compare.stdout
    assert "kept the built database" not in compare.stdout
    assert "Migration check passed: 20250115000000 -> 20250130000000" in compare.stdout
    reports = artifacts(repo, "compare-embedded") / "reports"
    assert (reports / "summary.md").read_text().startswith("## plan-harness")
    assert (reports / "base" / "results.json").exists()


def test_the_service_container_job_runs_the_plans_by_dsn(repo: ExampleRepo,
                                                         wheelhouse: dict[str, str]) -> None:
    repo.checkout("feature")
    with service_postgres() as dsn:
        job = run_job(repo, wheelhouse, "plans-service-container", *MERGE_REQUEST,
                      f"PLAN_HARNESS_DSN={dsn}")
        with psycopg.connect(dsn) as conn:
            left = conn.execute("SELECT count(*) FROM pg_database "
                                "WHERE datname LIKE 'plan_harness_%'").fetchone()
    assert job.returncode == 0, job.stdout[-3000:]
    assert left == (0,)  # the harness dropped its database on the service
    junit = ET.parse(artifacts(repo, "plans-service-container") / "reports" / "junit.xml")
    names = [c.get("name", "") for c in junit.getroot().iter("testcase")]
    assert len(names) == 5
    assert {n.split("[")[0] for n in names} == {"rep_calls"}
