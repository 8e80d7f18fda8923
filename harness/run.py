"""Session: one run of the pipeline, profile -> database -> scenarios -> plans and timings ->
verdicts, shared by the pytest plugin and the CLI. It owns the server and database and always
releases them."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import psycopg

from harness.build.datagen import Progress
from harness.database import RunDatabase
from harness.environment import run_environment
from harness.errors import HarnessError, ScenarioError
from harness.measure.catalog import Catalog
from harness.measure.explain import ModeMeasurement, bind_order, measure
from harness.options import RunOptions
from harness.project.manifest import Project
from harness.project.scenarios import Case, Scenario, read_scenarios
from harness.verdict.baseline import Baseline, read_baseline, write_baseline
from harness.verdict.checks import (
    FAIL,
    INFO,
    SHOWN_INFO,
    WARN,
    Context,
    Finding,
    ModeReference,
    Reference,
    error_verdict,
    evaluate,
    latency_suspects,
)
from harness.verdict.gate import canary_noise
from harness.verdict.results import CaseResult, DatabaseFacts, RunFacts, item_id


class PlanRun:
    """One run of the pipeline: on `open()` the run's database (harness.database) at the
    revision; `run_case()` measures a case and judges it once against its reference;
    `close()` releases everything. Use it as a context manager."""

    def __init__(self, config: RunOptions, project: Project, progress: Progress) -> None:
        self.config, self.project, self.progress = config, project, progress
        # what the run knows of itself; the database's own facts are added when asked
        self._facts = RunFacts(profile=config.profile, seed=config.seed,
                               policy=asdict(config.policy))
        self.results: list[CaseResult] = []
        self.baseline: Baseline | None = None  # with --plans-baseline
        # item id -> what an earlier run measured of it (a baseline, or the base revision)
        self.references: dict[str, Reference] = {}
        self._stack = contextlib.ExitStack()
        self.database = RunDatabase(config, project, progress, self._stack)
        self._canary_base_ms: float | None = None

    def __enter__(self) -> PlanRun:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def facts(self) -> RunFacts:
        """The run's facts with its database's, as they are now (a copy)."""
        database = self.database.facts()
        shared = {f.name: getattr(database, f.name) for f in fields(DatabaseFacts)}
        return replace(self._facts, **shared, profile=self.database.profile)

    def open(self) -> None:
        self._facts.started_at = _now()
        self._facts.environment = run_environment(self.project.fixtures_dir,
                                                  self.project.checks.misestimate_factor)
        self._facts.endpoint_claims = {endpoint: asdict(claim) for endpoint, claim
                                       in self.project.projection.endpoints.items()}
        try:
            self.database.open()
            self._load_baseline()
        except BaseException:
            try:
                self.close()
            except HarnessError as cleanup:
                # The first error is the one to report (a full disk crashed the server, so
                # the database could not be dropped either); the cleanup's is said as well.
                self.progress(f"cleanup after the error failed too: {cleanup}")
            raise

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The open run's connection to its database (after open())."""
        return self.database.connection

    @property
    def migration_failures(self) -> list[str]:
        """With --plans-migration-check on: why the migration fails the gate, if it does."""
        return self.database.migration_failures

    @property
    def existing_db(self) -> bool:
        return self.database.existing_db

    @property
    def projected(self) -> bool:
        """Planning from loaded statistics: scenarios are planned, never run."""
        return self.database.statistics is not None

    def _load_baseline(self) -> None:
        catalog = self.database.catalog
        if self.config.baseline is None or self.config.update_baseline or not catalog:
            return
        self.baseline = read_baseline(self.config.baseline, self.facts.profile,
                                      frozenset(catalog.table_rows))
        self.references = dict(self.baseline.items)

    def migrate(self, target: str, *, under_writer: bool = False,
                allow_downgrade: bool = False, analyze: bool = True) -> None:
        """Moves the open database to another revision: on to a later one, `under_writer` of the
        migration check's writer (compare: run at the base revision, migrate, run at the
        head), or back with `allow_downgrade` (the mutation proof undoes each mutation).
        Without `analyze` the planner keeps the statistics it had (a migration that only
        drops or rebuilds an index on plain columns changes none). The results and facts so
        far are the caller's to keep: the run goes on with new ones."""
        target = self.database.migrate(target, under_writer=under_writer,
                                       allow_downgrade=allow_downgrade, analyze=analyze)
        self._facts = replace(self._facts, started_at=_now())
        self.database.read_catalog(target, self.database.profile)
        self._load_baseline()
        self.results = []

    def save_baseline(self) -> Path | None:
        """With --plans-update-baseline on: writes this run's plans as the baseline."""
        if not self.config.update_baseline or self.config.baseline is None:
            return None
        assert self.database.catalog is not None
        items = {item_id(r.scenario, r.case): r.measurements for r in self.results}
        catalog, profile = self.database.catalog, self.facts.profile
        budgets = {item_id(r.scenario, r.case): {
            m.mode: (r.case.budget.buffers_limit(profile, m.mode),
                     r.case.budget.p95_limit(profile, m.mode)) for m in r.measurements}
            for r in self.results}
        write_baseline(self.config.baseline, profile, self.facts.revision,
                       sorted(catalog.table_rows), items,
                       {name: index.definition for name, index in catalog.indexes.items()},
                       budgets)
        self.progress(f"baseline of {len(items)} items written to {self.config.baseline}")
        return self.config.baseline

    def close(self) -> None:
        self.database.close()
        self._stack.close()

    def run_case(self, scenario: Scenario, case: Case) -> CaseResult:
        """Measures one case and judges it once. An item that cannot be measured (its SQL
        rejected, a table or column gone, an anchor without a value) gets outcome error with
        its reason; a p95 over budget is measured again before the verdict."""
        catalog = self.database.catalog
        if catalog is None:
            raise RuntimeError("PlanRun.open() must come first")
        values: dict[str, Any] = {}
        reference = self.references.get(item_id(scenario, case))
        try:
            require_tables(catalog, scenario, case)
            values = {name: self.database.anchors.resolve(scenario, case, name, value)
                      for name, value in case.values.items()}
            measurements, misses = self._measure_again_if_slow(scenario, case, values)
            self._canary_base_ms = canary_base(self.project.checks.canary_ms,
                                               self._canary_base_ms, measurements)
            verdict = evaluate(scenario, case, measurements, self.verdict_context(),
                               reference, misses)
        except HarnessError as exc:
            measurements, verdict = [], error_verdict(str(exc))
        result = CaseResult(scenario, case, values, tuple(measurements), verdict)
        self.results.append(result)
        return result

    def _measure_again_if_slow(self, scenario: Scenario, case: Case, values: Mapping[str, Any]
                               ) -> tuple[list[ModeMeasurement], list[Finding]]:
        """The measurements to judge, and the latency failures of a first measurement that
        was repeated because of them."""
        measurements = self._measure(scenario, values)
        misses = latency_suspects(case, measurements, self.verdict_context(),
                                  self.references.get(item_id(scenario, case)))
        if misses:
            measurements = self._measure(scenario, values)
        return measurements, misses

    def verdict_context(self) -> Context:
        assert self.database.catalog is not None
        statistics = self.database.statistics
        preview = statistics is not None and statistics.preview
        return Context(self.database.catalog, self.project.checks, self.config.policy,
                       gating=not preview, canary_base_ms=self._canary_base_ms)

    def note_missing(self, existing: Sequence[str]) -> list[str]:
        """Items of the baseline that the project no longer has (each a regression)."""
        self._facts.missing = self.baseline.missing(existing) if self.baseline else []
        return self._facts.missing

    def use_reference(self, results: Sequence[CaseResult], source: str) -> None:
        """Judge the coming items against these earlier results of the same process and
        database (the base revision): buffer growth fails, and latency beyond the noise."""
        self.references = references_from(results, source)

    def _measure(self, scenario: Scenario, values: Mapping[str, Any]) -> list[ModeMeasurement]:
        try:
            return measure(self.connection, scenario.positional_sql(),
                           bind_order(scenario.parameters, values),
                           self.database.provider.measured_modes(scenario.expect.plan_modes),
                           warmup=self.config.warmup, runs=self.config.runs,
                           read_only=self.existing_db, plan_only=self.projected,
                           form=self.database.provider.explain)
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0]
            raise ScenarioError(f"{scenario.path}: sql: {message}") from None


def require_tables(catalog: Catalog, scenario: Scenario, case: Case) -> None:
    """Every table the case expects an index on exists at the catalog's revision."""
    for table in case.expect.accepted(scenario.table):
        if table not in catalog.table_rows:
            field = "table" if table == scenario.table else f"expect.tables.{table}"
            raise ScenarioError(f"{scenario.path}: {field}: no table named {table!r} "
                                f"exists in the schema at revision {catalog.revision}")


def canary_base(recorded_ms: float | None, fastest_ms: float | None,
                measurements: Sequence[ModeMeasurement]) -> float | None:
    """The canary a p95 is normalised against: the project's recorded one (then a run on a
    busy or slower machine divides that slowdown out), else the run's fastest so far."""
    if recorded_ms:
        return recorded_ms
    for m in measurements:
        if m.canary is not None:
            fastest_ms = min(fastest_ms or m.canary.median_ms, m.canary.median_ms)
    return fastest_ms




def all_item_ids(project: Project) -> list[str]:
    """Every item the project's scenario files define, selected or not."""
    return [item_id(s, c) for s in read_scenarios(project.scenarios_dir) for c in s.cases]


def references_from(results: Sequence[CaseResult], source: str) -> dict[str, Reference]:
    """Each measured item of an earlier run as a reference, with the canary's spread over
    that run as the noise a latency change must exceed."""
    noise = canary_noise(m.canary.min_ms if m.canary else None
                         for r in results for m in r.measurements)
    return {
        item_id(r.scenario, r.case): Reference(source, {
            m.mode: ModeReference(
                m.plan.shape(), m.plan.shared_buffers,
                m.timing.p95_ms if m.timing else None,
                m.timing.min_ms if m.timing else None,
                m.canary.min_ms if m.canary else None,
                m.timing.samples_ms if m.timing else (),
                m.canary.samples_ms if m.canary else ())
            for m in r.measurements}, latency_gates=True, noise=noise)
        for r in results if r.measurements
    }


def failure_text(result: CaseResult, root: Path) -> str:
    """A failure that reads like a diff: what was expected, what the plan did, the numbers."""
    scenario, case = result.scenario, result.case
    path = scenario.path.relative_to(root) if scenario.path.is_relative_to(root) else scenario.path
    lines = [
        f"{scenario.name}[{case.id}] ({path}) {scenario.endpoint}".rstrip(),
        "  params: " + ", ".join(f"{k}={v!r}" for k, v in result.values.items()),
        f"  expected: {' or '.join(case.expect.indexes)} on {scenario.table}",
    ]
    for m in result.measurements:
        lines.append(
            f"  {m.mode} plan: {m.plan.access_summary(scenario.table)}, "
            f"{m.plan.shared_buffers:,} shared buffers"
            + (f", p95 {m.timing.p95_ms:.2f} ms" if m.timing else "")
        )
    lines += [f"  FAIL {f.check}: {f.message}" for f in result.verdict.of(FAIL)]
    lines += [f"  warn {f.check}: {f.message}" for f in result.verdict.of(WARN)]
    lines += [f"  info {f.check}: {f.message}" for f in result.verdict.of(INFO)
              if f.check in SHOWN_INFO]
    return "\n".join(lines)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
