"""Shared fixtures (a real embedded PostgreSQL for the database tests) and the hooks that
mark the tests by folder; plain helpers are in support.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.server.embedded import EmbeddedServer
from harness.server.provisioning import HarnessDatabase, ServerInfo, harness_database

# support.py's asserts (validate_results) explain themselves as they did in conftest.py
pytest.register_assert_rewrite("support")

from support import BEFORE_INDEXES, RUNS_DIR, CsrRun, run_csr_plans  # noqa: E402

pytest_plugins = ["pytester"]

TESTS = Path(__file__).parent
# the markers each folder's tests get; `pytest -m "not db"` runs tests/unit alone
FOLDER_MARKERS = {"db": ("db",), "plugin": ("db", "plugin"), "csr": ("db", "csr")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests by folder, and the plan items (scenarios/, marked `plans` by the
    plugin) `db` too: they plan on a server."""
    for item in items:
        path = item.path
        folder = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None
        names = FOLDER_MARKERS.get(folder or "", ())
        if item.get_closest_marker("plans") is not None:
            names = ("db",)
        for name in names:
            item.add_marker(name)


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


@pytest.fixture(scope="session", autouse=True)
def private_runs_dir(private_cache_dir: Path) -> Iterator[Path]:
    """Embedded servers started by the tests, in this process or in harness runs it starts,
    keep their data under a directory of this session (TMPDIR), so a test that looks for
    leftover servers sees only its own, never another harness run's on the machine."""
    runs = Path(tempfile.mkdtemp(prefix="plan-harness-tests-"))
    RUNS_DIR.append(runs)
    previous_env, previous_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(runs)
    yield runs
    tempfile.tempdir = previous_dir
    if previous_env is None:
        del os.environ["TMPDIR"]
    else:
        os.environ["TMPDIR"] = previous_env
    shutil.rmtree(runs, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerInfo]:
    with EmbeddedServer() as info:
        yield info


@pytest.fixture
def database(server: ServerInfo) -> Iterator[HarnessDatabase]:
    with harness_database(server) as db:
        yield db


@pytest.fixture(scope="session")
def csr_head(tmp_path_factory: pytest.TempPathFactory) -> CsrRun:
    """The CSR scenarios at head: shared by the regression proof and the report tests."""
    return run_csr_plans(tmp_path_factory.mktemp("csr-head"))


@pytest.fixture(scope="session")
def csr_before(tmp_path_factory: pytest.TempPathFactory) -> CsrRun:
    """The same data at the revision before the index migration."""
    return run_csr_plans(tmp_path_factory.mktemp("csr-before"), "--plans-revision",
                         BEFORE_INDEXES)
