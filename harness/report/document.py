"""The results document: what a run measured, as versioned JSON (`results.json`) that the
renderers and other tools read. `results.schema.json` beside this module describes it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import ReportError
from harness.measure.explain import ModeMeasurement
from harness.project.scenarios import Budget
from harness.verdict.catalogue import PLANS_DIFFER, SHOWN_INFO
from harness.verdict.gate import OUTCOMES, Noise, Policy, canary_noise
from harness.verdict.results import CaseResult, RunFacts

SCHEMA_VERSION = 5
SCHEMA_FILE = Path(__file__).with_name("results.schema.json")
Document = dict[str, Any]


@dataclass(frozen=True)
class ModeView:
    mode: str
    access: str
    indexes_used: list[str]  # on the scenario's table
    indexes_all: list[str]  # on any table
    shared_buffers: int
    p50_ms: float | None
    p95_ms: float | None
    runs: int
    samples_ms: list[float]
    plan_held: bool
    rows_returned: int
    estimated_rows: float  # the root node's estimate ...
    actual_rows: float | None  # ... and what it returned (None without ANALYZE)
    nodes: list[str]
    plan: Mapping[str, Any]
    best_ms: float | None  # the fastest timed run
    canary_best_ms: float | None  # the noise canary's fastest run beside them
    canary_samples_ms: list[float]  # the canary after each timed run, in the same order
    budget_p95_ms: float | None  # the case's budgets at the run's profile, in this mode
    budget_shared_buffers: int | None


@dataclass(frozen=True)
class FindingView:
    severity: str
    check: str
    mode: str | None
    message: str


@dataclass(frozen=True)
class ItemView:
    id: str
    scenario: str
    case: str
    file: str
    endpoint: str
    table: str
    sql: str
    params: dict[str, str]
    expected_indexes: list[str]
    expected_tables: dict[str, list[str]]
    outcome: str
    reason: str
    expected_definitions: dict[str, str]  # the recorded definitions of expected indexes
    modes: list[ModeView]
    findings: list[FindingView]
    plans_differ: bool


def _mode_view(m: ModeMeasurement, table: str, budget: Budget, profile: str) -> ModeView:
    return ModeView(
        mode=m.mode,
        access=m.plan.access_summary(table),
        indexes_used=sorted(m.plan.indexes_on(table)),
        indexes_all=sorted(m.plan.indexes_used()),
        shared_buffers=m.plan.shared_buffers,
        p50_ms=m.timing.median_ms if m.timing else None,
        p95_ms=m.timing.p95_ms if m.timing else None,
        runs=len(m.timing.samples_ms) if m.timing else 0,
        samples_ms=[round(s, 4) for s in m.timing.samples_ms] if m.timing else [],
        plan_held=m.plan_held,
        rows_returned=m.rows_returned,
        estimated_rows=m.plan.root.plan_rows,
        actual_rows=m.plan.root.total_actual_rows,
        nodes=[n.label for n in m.plan.nodes()],
        plan=dict(m.plan.raw),
        best_ms=m.timing.min_ms if m.timing else None,
        canary_best_ms=m.canary.min_ms if m.canary else None,
        canary_samples_ms=[round(s, 4) for s in m.canary.samples_ms] if m.canary else [],
        budget_p95_ms=budget.p95_limit(profile, m.mode),
        budget_shared_buffers=budget.buffers_limit(profile, m.mode),
    )


def item_view(result: CaseResult, profile: str, base_dir: Path | None = None) -> ItemView:
    scenario = result.scenario
    path = scenario.path
    if base_dir is not None and path.is_relative_to(base_dir):
        path = path.relative_to(base_dir)
    return ItemView(
        id=f"{scenario.name}[{result.case.id}]",
        scenario=scenario.name,
        case=result.case.name,
        file=str(path),
        endpoint=scenario.endpoint,
        table=scenario.table,
        sql=scenario.sql,
        params={k: _text(v) for k, v in result.values.items()},
        expected_indexes=list(result.case.expect.indexes),
        expected_tables={t: list(names) for t, names in result.case.expect.tables.items()},
        outcome=result.verdict.outcome,
        reason=result.verdict.first_reason,
        expected_definitions=dict(result.case.expect.definitions),
        modes=[_mode_view(m, scenario.table, result.case.budget, profile)
               for m in result.measurements],
        findings=[
            FindingView(f.severity, f.check, f.mode, f.message)
            for f in result.verdict.findings
            if f.severity != "info" or f.check in SHOWN_INFO
        ],
        plans_differ=any(f.check == PLANS_DIFFER.name for f in result.verdict.findings),
    )


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def count_outcomes(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts = {outcome: sum(1 for i in items if i["outcome"] == outcome) for outcome in OUTCOMES}
    counts["plans_differ"] = sum(1 for i in items if i["plans_differ"])
    return counts


def results_document(facts: RunFacts, results: Sequence[CaseResult],
                     base_dir: Path | None = None) -> Document:
    items = [asdict(item_view(r, facts.profile, base_dir)) for r in results]
    run = asdict(facts)
    run["environment"] = _environment(facts)
    run["noise"] = asdict(canary_noise(m.canary.min_ms if m.canary else None
                                       for r in results for m in r.measurements))
    return {
        "schema_version": SCHEMA_VERSION,
        "harness_version": __version__,
        "run": run,
        "counts": count_outcomes(items),
        "items": items,
    }


def _environment(facts: RunFacts) -> dict[str, Any]:
    """The session's environment with what is known only now: the server's version and the
    time since the run (or its head phase, after a migration) started."""
    started = dt.datetime.fromisoformat(facts.started_at) if facts.started_at else None
    duration = (dt.datetime.now(dt.UTC) - started).total_seconds() if started else None
    return {**_UNKNOWN_ENVIRONMENT, **facts.environment,
            "postgresql": facts.server_version or "unknown",
            "duration_seconds": None if duration is None else round(duration, 1)}


# --- reading saved documents -----------------------------------------------------------------

# An index's definition, unknown in version 1 (empty columns say so to the usage matrix).
_V1_INDEX_DEFAULTS: dict[str, Any] = {
    "method": "", "unique": False, "primary": False, "valid": True, "predicate": None,
    "columns": [], "include": [], "definition": "",
}


def _from_v1(document: Document) -> Document:
    """Version 1 lacked timing samples, root row counts, indexes on other tables, table sizes,
    index definitions, endpoint claims, write cost and the migration check; they read as
    empty or unknown."""
    run = document["run"]
    run.setdefault("table_sizes", [])
    run.setdefault("endpoint_claims", {})
    run.setdefault("write_cost", None)
    run.setdefault("migration", None)
    for index in run.get("index_sizes", []):
        for key, unknown in _V1_INDEX_DEFAULTS.items():
            index.setdefault(key, unknown)
    for item in document["items"]:
        for mode in item["modes"]:
            mode.setdefault("samples_ms", [])
            mode.setdefault("indexes_all", list(mode.get("indexes_used", [])))
            root = mode.get("plan", {}).get("Plan", {})
            mode.setdefault("estimated_rows", float(root.get("Plan Rows", 0)))
            actual = root.get("Actual Rows")
            loops = root.get("Actual Loops", 1) or 1
            mode.setdefault("actual_rows", None if actual is None else actual * loops)
    document["schema_version"] = 2
    return document


_UNKNOWN_ENVIRONMENT: dict[str, Any] = {
    "harness": "unknown", "python": "unknown", "psycopg": "unknown", "postgresql": "unknown",
    "git_commit": "unknown", "duration_seconds": None,
}


def _from_v2(document: Document) -> Document:
    """Version 2 had no error outcome (an item that errored was left out), no policy, no
    noise canary, no missing items and no environment: they read as none, the defaults and
    unknown."""
    run = document["run"]
    _default_environment(document)
    run.setdefault("policy", asdict(Policy()))
    run.setdefault("noise", asdict(Noise()))
    run.setdefault("missing", [])
    document["counts"].setdefault("error", 0)
    for item in document["items"]:
        item.setdefault("expected_tables", {})
        item.setdefault("reason", _v2_reason(item))
        for mode in item["modes"]:
            samples = mode.get("samples_ms") or []
            mode.setdefault("best_ms", min(samples) if samples else None)
            mode.setdefault("canary_best_ms", None)
    document["schema_version"] = 3
    return document


def _default_environment(document: Document) -> None:
    """Files written before the environment was recorded (version 2, and version 3 until
    then): what the document itself says, the rest unknown."""
    run = document["run"]
    run.setdefault("environment", {**_UNKNOWN_ENVIRONMENT,
                                   "harness": document.get("harness_version", "unknown"),
                                   "postgresql": run.get("server_version") or "unknown"})


def _v2_reason(item: Mapping[str, Any]) -> str:
    own = [f for f in item["findings"] if f["severity"] == item["outcome"]]
    return f"{own[0]['check']}: {own[0]['message']}" if own else ""


def _from_v3(document: Document) -> Document:
    """Version 3 named the time until the database was ready seed_seconds, though a reused
    or attached database is not loaded."""
    for facts in (document["run"], *document["run"].get("workers", [])):
        facts.setdefault("ready_seconds", facts.pop("seed_seconds", 0.0))
    document["schema_version"] = 4
    return document


def _from_v4(document: Document) -> Document:
    """Version 4 had one budget per item for every plan mode, no recorded index definitions
    and no per-execution canary times."""
    for item in document["items"]:
        budgets = {key: item.pop(key, None)
                   for key in ("budget_p95_ms", "budget_shared_buffers")}
        item.setdefault("expected_definitions", {})
        for mode in item["modes"]:
            for key, value in budgets.items():
                mode.setdefault(key, value)
            mode.setdefault("canary_samples_ms", [])
    document["schema_version"] = 5
    return document


MIGRATIONS: dict[int, Callable[[Document], Document]] = {
    1: _from_v1, 2: _from_v2, 3: _from_v3, 4: _from_v4}


def read_results(path: Path) -> Document:
    """Reads a results file of this or an older schema version (migrated on read)."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno})") from None
    version = document.get("schema_version") if isinstance(document, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise ReportError(f"{path}: not a plan-harness results file (no schema_version)")
    if version > SCHEMA_VERSION:
        raise ReportError(f"{path}: schema_version {version} is newer than this plan-harness "
                          f"reads (1 to {SCHEMA_VERSION}); upgrade plan-harness")
    _check_shape(path, document)
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise ReportError(f"{path}: schema_version {version} is no longer supported "
                              f"(this plan-harness reads 1 to {SCHEMA_VERSION})")
        document = MIGRATIONS[version](document)
        version = document["schema_version"]
    _default_environment(document)
    checked: Document = document
    return checked


_REQUIRED_ITEM_KEYS = ("id", "scenario", "endpoint", "table", "sql", "params", "outcome",
                       "modes", "findings", "expected_indexes")
_REQUIRED_MODE_KEYS = ("mode", "access", "indexes_used", "shared_buffers", "plan")


def _check_shape(path: Path, document: Document) -> None:
    """The keys every version has; a file cut short or edited by hand fails here with the
    field it lacks, instead of somewhere in a template."""
    if not isinstance(document.get("run"), dict):
        raise ReportError(f"{path}: run: missing or not an object")
    if not isinstance(document.get("items"), list):
        raise ReportError(f"{path}: items: missing or not an array")
    for i, item in enumerate(document["items"]):
        where = f"items[{i}]"
        if not isinstance(item, dict):
            raise ReportError(f"{path}: {where}: not an object")
        for key in _REQUIRED_ITEM_KEYS:
            if key not in item:
                raise ReportError(f"{path}: {where}.{key}: missing")
        if item["outcome"] not in OUTCOMES:
            raise ReportError(f"{path}: {where}.outcome: {item['outcome']!r} is not "
                              f"one of {', '.join(OUTCOMES)}")
        for j, mode in enumerate(item["modes"]):
            for key in _REQUIRED_MODE_KEYS:
                if not isinstance(mode, dict) or key not in mode:
                    raise ReportError(f"{path}: {where}.modes[{j}].{key}: missing")
