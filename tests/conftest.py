"""Shared fixtures (a real embedded PostgreSQL for the database tests) and the hooks that
mark the tests by folder; plain helpers are in support.py."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.plugin import SESSION
from harness.report.output import write_report
from harness.run import all_item_ids
from harness.server.citus import citus_installed
from harness.server.embedded import EmbeddedServer
from harness.server.provisioning import HarnessDatabase, ServerInfo, harness_database

# support.py's asserts (validate_results) explain themselves as they did in conftest.py
pytest.register_assert_rewrite("support")

from support import BEFORE_INDEXES, REPO, RUNS_DIR, CsrRun, run_csr_plans  # noqa: E402

pytest_plugins = ["pytester"]

TESTS = Path(__file__).parent
# the markers each folder's tests get; `pytest -m "not db"` runs tests/unit alone
FOLDER_MARKERS = {"db": ("db",), "plugin": ("db", "plugin"), "csr": ("db", "csr"),
                  "install": ("db", "install"),
                  "citus": ("db", "csr", "citus")}
# without a Citus build the cluster tests skip, saying the one command that enables them
CITUS_MISSING = pytest.mark.skip(reason="Citus is not installed for the embedded server: "
                                 "sh tools/install-citus.sh enables the citus tests")


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """Marks the tests by folder, and the plan items (scenarios/, marked `plans` by the
    plugin) `db` too: they plan on a server. Marked before -m selects (so `-m "not db"`
    leaves them out); after every other hook, the plan items are put first (in their own
    order), so that their results are there for the tests that read a CSR run at head
    (csr_head)."""
    for item in items:
        path = item.path
        folder = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None
        names = FOLDER_MARKERS.get(folder or "", ())
        if item.get_closest_marker("plans") is not None:
            names = ("db",)
        for name in names:
            item.add_marker(name)
        if "citus" in names and not citus_installed():
            item.add_marker(CITUS_MISSING)
    yield
    items.sort(key=lambda item: item.get_closest_marker("plans") is None)  # stable


_PREVIOUS_CACHE_DIR = pytest.StashKey[str | None]()
_CACHE_DIR = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Every harness run of this test session, in this process or in one it starts, keeps
    its built databases in one temporary directory, never in the user's cache: each database
    is built once per session and reused by the runs after. Set here, before the session
    starts, so that the plan items collected at the root (whose run opens before any
    fixture) share it too."""
    if hasattr(config, "workerinput"):
        return  # an xdist worker inherits the controller's
    path = Path(tempfile.mkdtemp(prefix="plan-harness-tests-cache-"))
    config.stash[_CACHE_DIR] = path
    config.stash[_PREVIOUS_CACHE_DIR] = os.environ.get("PLAN_HARNESS_CACHE_DIR")
    os.environ["PLAN_HARNESS_CACHE_DIR"] = str(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_CACHE_DIR, None)
    if path is None:
        return
    previous = config.stash[_PREVIOUS_CACHE_DIR]
    if previous is None:
        os.environ.pop("PLAN_HARNESS_CACHE_DIR", None)
    else:
        os.environ["PLAN_HARNESS_CACHE_DIR"] = previous
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir() -> Path:
    """The session's directory of built databases (set up by pytest_configure)."""
    return Path(os.environ["PLAN_HARNESS_CACHE_DIR"])


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


def plan_items_of_this_session(session: pytest.Session, report_dir: Path) -> CsrRun | None:
    """The CSR scenarios at head as the plan items of this very session ran them (the test
    command at the root collects scenarios/): their report written to `report_dir`. None
    when this session did not run every one of them at the head revision (`pytest tests`,
    -k, another revision or profile): then they are run on their own."""
    plans = session.config.stash.get(SESSION, None)
    if plans is None or plans.run is None:
        return None
    settings, run = plans.settings, plans.run
    if (plans.project.scenarios_dir.resolve() != (REPO / "scenarios").resolve()
            or settings.profile != "ci" or settings.revision != "head" or settings.base_revision
            or settings.baseline is not None or settings.stats is not None
            or plans.deselected or run.existing_db):
        return None
    results = list(run.results)
    if len(results) != len(all_item_ids(plans.project)):
        return None  # not all of them ran (yet)
    write_report(report_dir, run.facts, results, session.config.rootpath)
    document = json.loads((report_dir / "results.json").read_text())
    failed = [i["id"] for i in document["items"] if i["outcome"] in ("fail", "error")]
    return CsrRun(1 if failed else 0, report_dir, document,
                  f"the plan items of this session: {len(results)} results; "
                  f"failed or errors: {failed}")


@pytest.fixture(scope="session")
def csr_head(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> CsrRun:
    """The CSR scenarios at head: shared by the regression proof and the report tests. The
    test command runs them once, as the plan items at the root; a session without them runs
    them here."""
    report_dir = tmp_path_factory.mktemp("csr-head")
    shared = plan_items_of_this_session(request.session, report_dir)
    return shared if shared is not None else run_csr_plans(report_dir)


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The pip settings under which the CI examples' jobs install the project from one
    wheelhouse, built once for the session (ci_examples.build_wheelhouse)."""
    from ci_examples import build_wheelhouse

    return build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="session")
def installed_harness(wheelhouse: dict[str, str]) -> Iterator[Path]:
    """The bin/ of a fresh virtualenv outside the checkout with the harness installed from
    the session's wheelhouse by name (`pip install plan-harness`), as another repository
    installs it. Outside pytest's temporary directory: the embedded server's account must
    reach it, and pytest keeps its own directory private."""
    from ci_examples import install_harness

    root = Path(tempfile.mkdtemp(prefix="plan-harness-venv-"))
    try:
        yield install_harness(root / "venv", wheelhouse)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def csr_before(tmp_path_factory: pytest.TempPathFactory) -> CsrRun:
    """The same data at the revision before the index migration. Its sequential scans are
    what the tests read (verdicts, buffers, plans, and timings only against head's index
    walks, an order of magnitude apart): two timed executions a plan mode tell that apart,
    the checked EXPLAIN ANALYZE having warmed the cache before them."""
    return run_csr_plans(tmp_path_factory.mktemp("csr-before"), "--plans-revision",
                         BEFORE_INDEXES, "--plans-runs", "2", "--plans-warmup", "0")
