"""Explain: runs one scenario case as a prepared statement, under a forced plan mode, with
EXPLAIN (ANALYZE, BUFFERS) and then timed executions of that same prepared plan."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from pytest_benchmark.stats import Stats

from harness.errors import PlanError
from harness.measure import canary
from harness.measure.plans import Plan
from harness.server.providers import PLAIN_EXPLAIN, ExplainForm

STATEMENT = "plan_harness_case"
# A driver's prepared statement gets custom plans for its first five executions, then the
# generic plan if that looks no more expensive; forcing each mode shows both plans.
PLAN_CACHE_MODES = {"custom": "force_custom_plan", "generic": "force_generic_plan"}


@dataclass(frozen=True)
class Timing:
    """Wall-clock milliseconds of the timed executions, with pytest-benchmark's statistics
    plus p95 (inclusive linear interpolation between order statistics)."""

    samples_ms: tuple[float, ...]
    min_ms: float
    median_ms: float
    mean_ms: float
    p95_ms: float
    max_ms: float
    stddev_ms: float
    iqr_ms: float

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float]) -> Timing:
        stats = Stats()
        for sample in samples_ms:
            stats.update(sample)
        return cls(
            samples_ms=tuple(samples_ms),
            min_ms=stats.min,
            median_ms=stats.median,
            mean_ms=stats.mean,
            p95_ms=percentile(samples_ms, 95),
            max_ms=stats.max,
            stddev_ms=stats.stddev,
            iqr_ms=stats.iqr,
        )


def percentile(samples: Sequence[float], pct: float) -> float:
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * pct / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class ModeMeasurement:
    """The checked plan of one plan mode, and the timings of executions of that plan."""

    mode: str
    plan: Plan
    timing: Timing | None
    plan_held: bool  # the plan after the timed runs has the shape of the checked one
    rows_returned: int
    # the noise canary, executed after each timed execution: how fast the machine was then
    canary: Timing | None = None


def prepare(conn: psycopg.Connection[Any], positional_sql: str) -> sql.Composed:
    """PREPAREs the scenario SQL (with $n placeholders, as a driver's prepared statement has)
    and returns the EXECUTE statement that passes it the case's values.

    PostgreSQL does not analyse a utility statement's arguments at Parse, so a protocol-level
    parameter inside `EXPLAIN EXECUTE` never gets a type. EXECUTE's arguments are therefore
    bound client-side by psycopg (quoted by the driver, never formatted by the harness) and
    cast to the types PostgreSQL inferred at PREPARE."""
    conn.execute("DEALLOCATE ALL")
    conn.execute(
        sql.SQL("PREPARE {} AS ").format(sql.Identifier(STATEMENT)) + sql.SQL(positional_sql)
    )
    row = conn.execute(
        "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = %s", [STATEMENT]
    ).fetchone()
    types: list[str] = list(row[0]) if row and row[0] else []
    arguments = sql.SQL(", ").join(sql.SQL("%s::" + t) for t in types)
    if not types:
        return sql.SQL("EXECUTE {}").format(sql.Identifier(STATEMENT))
    return sql.SQL("EXECUTE {}({})").format(sql.Identifier(STATEMENT), arguments)


def explain(
    conn: psycopg.Connection[Any], execute: sql.Composed, values: Sequence[Any], *, analyze: bool,
    form: ExplainForm = PLAIN_EXPLAIN,
) -> Plan:
    options = form.measured if analyze else form.planned
    statement = sql.SQL(f"EXPLAIN ({options}) ") + execute
    row = psycopg.ClientCursor(conn).execute(statement, values).fetchone()
    if not row:
        raise PlanError("EXPLAIN returned no row")
    return Plan.from_explain(row[0])


# The noise canary: fixed CPU work on the server (units of about a millisecond), timed as
# the cases are, after each of their timed executions. Its times say how busy the machine
# was while the case was measured, so a slower case on a slower machine is told from a
# slower plan. It runs about as long as the execution before it (harness.measure.canary)
# and is recorded per unit: on a busy machine a statement shorter than the scheduler's time
# slice often runs undisturbed while a longer one waits its turn several times, so only a
# canary of the execution's length sees the delay the execution saw.
CANARY = "SELECT count(*) FROM generate_series(1, {rows})"


# Nodes of a statement that writes (or locks rows): never executed in a database that is
# not the harness's own.
WRITING_NODES = frozenset({"ModifyTable", "LockRows"})


def measure(
    conn: psycopg.Connection[Any],
    positional_sql: str,
    values: Sequence[Any],
    modes: Sequence[str],
    *,
    warmup: int,
    runs: int,
    read_only: bool = False,
    plan_only: bool = False,
    form: ExplainForm = PLAIN_EXPLAIN,
) -> list[ModeMeasurement]:
    """With `read_only`, a statement whose plan writes or locks rows is only planned; with
    `plan_only`, every statement is. `form` is how the server kind takes EXPLAIN."""
    execute = prepare(conn, positional_sql)
    try:
        if plan_only or (read_only and _writes(explain(conn, execute, values, analyze=False,
                                                       form=form))):
            return [_plan_mode(conn, execute, values, mode, form) for mode in modes]
        return [_measure_mode(conn, execute, values, mode, warmup, runs, form)
                for mode in modes]
    finally:
        conn.execute("RESET plan_cache_mode")
        conn.execute("DEALLOCATE ALL")


def _measure_mode(
    conn: psycopg.Connection[Any],
    execute: sql.Composed,
    values: Sequence[Any],
    mode: str,
    warmup: int,
    runs: int,
    form: ExplainForm,
) -> ModeMeasurement:
    conn.execute(sql.SQL("SET plan_cache_mode = {}").format(sql.Literal(PLAN_CACHE_MODES[mode])))
    plan = explain(conn, execute, values, analyze=True, form=form)
    samples: list[float] = []
    canary: list[float] = []
    rows = 0
    cursor = psycopg.ClientCursor(conn)
    for i in range(warmup + runs):
        # libpq has received the whole result when execute() returns; turning the rows into
        # Python objects (fetchall) would time the driver, not the plan, so it is skipped.
        elapsed_ms, rows = _timed(cursor, execute, values)
        if i >= warmup:
            samples.append(elapsed_ms)
            canary.append(_canary_unit_ms(cursor, elapsed_ms))
    after = explain(conn, execute, values, analyze=False, form=form)
    return ModeMeasurement(
        mode=mode,
        plan=plan,
        timing=Timing.from_samples(samples) if samples else None,
        plan_held=after.shape() == plan.shape(),
        rows_returned=rows,
        canary=Timing.from_samples(canary) if canary else None,
    )


def _canary_unit_ms(cursor: psycopg.ClientCursor[Any], beside_ms: float) -> float:
    """The canary's time per unit, run for about `beside_ms` (one unit at least)."""
    units = canary.units_beside(beside_ms)
    statement = sql.SQL(CANARY.format(rows=units * canary.UNIT_ROWS))
    return _timed(cursor, statement, None)[0] / units


def _timed(cursor: psycopg.ClientCursor[Any], statement: sql.SQL | sql.Composed,
           values: Sequence[Any] | None) -> tuple[float, int]:
    started = time.perf_counter()
    rows = cursor.execute(statement, values).rowcount
    return (time.perf_counter() - started) * 1000, rows



def _writes(plan: Plan) -> bool:
    return any(node.node_type in WRITING_NODES for node in plan.nodes())


def _plan_mode(
    conn: psycopg.Connection[Any], execute: sql.Composed, values: Sequence[Any], mode: str,
    form: ExplainForm,
) -> ModeMeasurement:
    conn.execute(sql.SQL("SET plan_cache_mode = {}").format(sql.Literal(PLAN_CACHE_MODES[mode])))
    plan = explain(conn, execute, values, analyze=False, form=form)
    return ModeMeasurement(mode=mode, plan=plan, timing=None, plan_held=True, rows_returned=0)


def bind_order(parameters: Sequence[str], values: Mapping[str, Any]) -> list[Any]:
    return [values[name] for name in parameters]
