"""Trials: one set of indexes (a configuration) tried on the run's database. Every candidate
is built there once; a configuration drops the others (those that enforce no constraint)
inside a transaction that is rolled back, so the database is as it was after each trial.
Each case is planned first (EXPLAIN only: the planner's estimate), and only a plan not
measured before is run under EXPLAIN (ANALYZE, BUFFERS): a plan's shared buffers on one
database are the same whichever configuration it was chosen in."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from harness.errors import ScenarioError
from harness.measure.explain import (
    PLAN_CACHE_MODES,
    ModeMeasurement,
    bind_order,
    explain,
    measure,
    prepare,
)
from harness.measure.plans import Plan
from harness.project.scenarios import Case, Scenario
from harness.server.providers import ExplainForm


@dataclass(frozen=True)
class Item:
    """One case of the workload, with its values resolved once at head."""

    id: str
    scenario: Scenario
    case: Case
    values: Mapping[str, Any]
    tables: frozenset[str]  # the tables its head plans read

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self.scenario.expect.plan_modes)


@dataclass(frozen=True)
class Reading:
    """What one plan of one item read, measured: its shape's label, shared buffers, the
    indexes it used and the planner's estimated cost."""

    shape: tuple[str, ...]
    buffers: int
    indexes: tuple[str, ...]
    cost: float


@dataclass
class Outcome:
    """A configuration's readings per (item, plan mode), and the planner's estimated cost of
    each plan beside the measured buffers."""

    present: frozenset[str]
    readings: dict[tuple[str, str], Reading] = field(default_factory=dict)
    analyzed: int = 0  # plans measured for this configuration (the others were known)

    @property
    def buffers_gmean(self) -> float:
        return gmean(r.buffers for r in self.readings.values())

    @property
    def cost_gmean(self) -> float:
        return gmean(r.cost for r in self.readings.values())


def gmean(values: Iterator[float] | Sequence[float]) -> float:
    logged = [math.log(max(v, 1.0)) for v in values]
    return math.exp(sum(logged) / len(logged)) if logged else 0.0


class _RolledBack(Exception):
    pass


class Bench:
    """The run's connection and the candidates built on it. `droppable` are the indexes a
    configuration may leave out (every built candidate that enforces no constraint)."""

    def __init__(self, conn: psycopg.Connection[Any], items: Sequence[Item],
                 droppable: Sequence[str], form: ExplainForm,
                 known: dict[str, Reading] | None = None,
                 on_measured: Callable[[str, Reading], None] | None = None) -> None:
        self.conn, self.items, self.form = conn, list(items), form
        self.droppable = list(droppable)
        # (item id, mode, shape) -> reading, across configurations (and resumed runs)
        self.known: dict[str, Reading] = known if known is not None else {}
        self.on_measured = on_measured or (lambda key, reading: None)
        self.planned_count = 0
        self.analyzed_count = 0

    @contextlib.contextmanager
    def applied(self, present: frozenset[str]) -> Iterator[None]:
        """The configuration `present` for the duration of the block: every other droppable
        index dropped in a transaction rolled back on the way out, whatever happens."""
        try:
            with self.conn.transaction():
                for name in self.droppable:
                    if name not in present:
                        self.conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
                yield
                raise _RolledBack
        except _RolledBack:
            pass

    def trial(self, present: frozenset[str], items: Sequence[Item] | None = None,
              base: Outcome | None = None) -> Outcome:
        """The configuration's readings for `items` (default: all); the others are taken
        from `base`, whose configuration differs only on tables they do not read."""
        outcome = Outcome(present)
        if base is not None:
            outcome.readings.update(base.readings)
        with self.applied(present):
            for item in items if items is not None else self.items:
                for mode, plan in self.plans(item).items():
                    outcome.readings[item.id, mode] = self._reading(item, mode, plan, outcome)
        return outcome

    def plans(self, item: Item) -> dict[str, Plan]:
        try:
            execute = prepare(self.conn, item.scenario.positional_sql())
            values = bind_order(item.scenario.parameters, item.values)
            plans = {}
            for mode in item.modes:
                self.conn.execute(sql.SQL("SET plan_cache_mode = {}").format(
                    sql.Literal(PLAN_CACHE_MODES[mode])))
                plans[mode] = explain(self.conn, execute, values, analyze=False,
                                      form=self.form)
                self.planned_count += 1
            return plans
        except psycopg.Error as exc:
            raise ScenarioError(f"{item.scenario.path}: sql: "
                                f"{str(exc).strip().splitlines()[0]}") from None
        finally:
            self.conn.execute("RESET plan_cache_mode")
            self.conn.execute("DEALLOCATE ALL")

    def _reading(self, item: Item, mode: str, plan: Plan, outcome: Outcome) -> Reading:
        key = reading_key(item.id, mode, plan.shape())
        known = self.known.get(key)
        if known is None:
            measured = self.analyze(item, mode)
            known = Reading(measured.plan.shape(), measured.plan.shared_buffers,
                            tuple(sorted(measured.plan.indexes_used())), plan.root.total_cost)
            self.known[key] = known
            self.known.setdefault(reading_key(item.id, mode, known.shape), known)
            self.analyzed_count += 1
            outcome.analyzed += 1
            self.on_measured(key, known)
        # the estimate is this configuration's own
        return Reading(known.shape, known.buffers, known.indexes, plan.root.total_cost)

    def analyze(self, item: Item, mode: str, *, warmup: int = 0,
                runs: int = 0) -> ModeMeasurement:
        """EXPLAIN (ANALYZE, BUFFERS) of one plan mode, with `runs` timed executions."""
        try:
            return measure(self.conn, item.scenario.positional_sql(),
                           bind_order(item.scenario.parameters, item.values), [mode],
                           warmup=warmup, runs=runs, form=self.form)[0]
        except psycopg.Error as exc:
            raise ScenarioError(f"{item.scenario.path}: sql: "
                                f"{str(exc).strip().splitlines()[0]}") from None


def reading_key(item: str, mode: str, shape: Sequence[str]) -> str:
    return f"{item}|{mode}|{' > '.join(shape)}"
