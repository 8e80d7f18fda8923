"""The advice, from start to finish on one run's database: every case at head (the
reference), the candidates derived and built, the search, the chosen set measured again as
a whole (an item it makes worse than head becomes a constraint: the index it moved to is
left out and the search goes on), the write cost of the final few sets, and the verdicts.
Every candidate built is dropped again on the way out, Ctrl-C included; measurements are
kept in a state file, so an interrupted advice continues where it stopped."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness.advise.candidates import (
    HEAD,
    PROPOSED,
    Candidate,
    Drop,
    drop_candidates,
    generated_candidates,
    head_candidates,
    proposed_candidates,
)
from harness.advise.search import Budgets, Search, SearchResult
from harness.advise.trials import Bench, Item, Outcome, Reading, reading_key
from harness.advise.writes import WriteCost, prepare_source, write_cost
from harness.build.cache import fingerprint
from harness.build.datagen import Progress
from harness.errors import ConfigError, HarnessError
from harness.files import write_atomically
from harness.lifecycle import Lifecycle
from harness.measure.catalog import read_catalog, unnamed
from harness.measure.explain import ModeMeasurement
from harness.measure.plans import Plan
from harness.options import RunOptions
from harness.project.manifest import Project
from harness.project.scenarios import Case, Scenario
from harness.run import references_from
from harness.verdict.catalogue import NOISY
from harness.verdict.checks import Context, Reference, evaluate
from harness.verdict.gate import Severity, buffers_grew
from harness.verdict.results import CaseResult, item_id

Cases = Sequence[tuple[Scenario, Case]]
STATE_FILE = "advise-state.json"
STATE_FORMAT = 1


@dataclass(frozen=True)
class AdviseOptions:
    """Budgets (each against the head's set) and how much to measure."""

    max_size_ratio: float = 1.5
    max_write_ratio: float = 1.0
    max_indexes: int | None = None
    write_rows: int = 2000
    write_rounds: int = 2
    final_sets: int = 3
    min_gain: float = 0.03
    state_dir: Path | None = None  # where the state file is kept (None: nowhere)
    fresh: bool = False  # ignore a kept state


@dataclass(frozen=True)
class Built:
    name: str
    seconds: float
    size_bytes: int
    definition: str


@dataclass
class CaseChange:
    """One item and plan mode at head and with the chosen set."""

    item: str
    mode: str
    before_plan: str
    after_plan: str
    before_indexes: tuple[str, ...]
    after_indexes: tuple[str, ...]
    before_buffers: int
    after_buffers: int
    before_p50: float | None
    after_p50: float | None
    before_p95: float | None
    after_p95: float | None


@dataclass
class Advice:
    profile: str
    revision: str
    seed: int
    candidates: list[Candidate]
    drops: list[Drop]
    built: dict[str, Built]
    head_set: frozenset[str]
    chosen_set: frozenset[str]
    head_outcome: Outcome
    chosen_outcome: Outcome
    search: SearchResult
    changes: list[CaseChange]
    writes: dict[str, WriteCost]  # set label -> cost
    write_deltas: dict[str, float]  # index -> WAL bytes per row it adds (or saves)
    sizes: dict[str, int]  # set label -> total bytes
    banned: dict[str, str]  # index -> why the chosen set may not have it
    budgets: Budgets
    options: AdviseOptions
    measured_again: int  # rounds of "chosen set measured as a whole"
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # constraint indexes

    @property
    def added(self) -> list[str]:
        return sorted(self.chosen_set - self.head_set)

    @property
    def removed(self) -> list[str]:
        return sorted(self.head_set - self.chosen_set)


def advise(options: RunOptions, project: Project, cases: Cases, settings: AdviseOptions,
           progress: Progress) -> Advice:
    """The advice for `cases` on the run `options` open (never an existing database)."""
    if options.allow_existing_db:
        raise ConfigError("--plans-allow-existing-db: advise builds indexes, so it runs only "
                          "on a database of its own")
    started = time.monotonic()
    options = replace(options, migration_check=False, baseline=None, update_baseline=False)
    with Lifecycle(options, project, progress) as life:
        run = life.run
        catalog = run.database.catalog
        assert catalog is not None
        _refuse_unknown_tables(project, catalog.table_rows)
        progress(f"advise: every case at {run.facts.revision}, the reference")
        head_results = life.measure(cases)
        items = [Item(item_id(r.scenario, r.case), r.scenario, r.case, r.values,
                      frozenset(n.relation for m in r.measurements for n in m.plan.nodes()
                                if n.relation))
                 for r in head_results if r.measurements]
        head_measured = {(item_id(r.scenario, r.case), m.mode): m
                         for r in head_results for m in r.measurements}
        tables = set().union(*(i.tables for i in items)) | {
            p.table for p in project.advise.candidates}
        sizes = [s for s in run.facts.index_sizes if s.table in tables]
        used: dict[str, list[str]] = {}
        for r in head_results:
            for m in r.measurements:
                for index in m.plan.indexes_used():
                    used.setdefault(index, []).append(item_id(r.scenario, r.case))
        state = _State.open(settings, _fingerprint(run.facts.profile, run.facts.seed,
                                                   run.facts.revision, items, project, settings))
        conn = run.connection
        conn.execute("SET statement_timeout = 0")
        form = run.database.provider.explain
        verbose = replace(form, planned="VERBOSE, " + form.planned)
        bench = Bench(conn, items, [], verbose, state.readings, state.measured)
        if state.resumed:
            progress(f"advise: resuming with {state.resumed} plans measured before "
                     f"({state.path})")
        candidates = _candidates(bench, items, sizes, project)
        try:
            with _built(conn, candidates, sizes, state, progress) as built:
                judge = _Judge(run.verdict_context(), references_from(head_results, "at head"),
                               {item_id(r.scenario, r.case): r for r in head_results},
                               run.facts.revision, run.facts.profile)
                advice = _advise(bench, candidates, built, sizes, used, tables, head_measured,
                                 project, settings, state, progress, run.config.policy,
                                 run.config.warmup, run.config.runs, judge)
        finally:
            state.save()
        advice.profile, advice.revision, advice.seed = (run.facts.profile, run.facts.revision,
                                                        run.facts.seed)
        advice.seconds = round(time.monotonic() - started, 1)
        return advice


def _refuse_unknown_tables(project: Project, tables: Mapping[str, float]) -> None:
    for n, proposal in enumerate(project.advise.candidates):
        if proposal.table not in tables:
            raise ConfigError(f"{project.manifest}: advise.candidates[{n}].table: no table "
                              f"named {proposal.table!r} in the schema (tables: "
                              f"{', '.join(sorted(t for t in tables if t != 'alembic_version'))})")


def _candidates(bench: Bench, items: Sequence[Item], sizes: Sequence[Any],
                project: Project) -> list[Candidate]:
    """Head, proposed, then generated; the first of each definition wins."""
    found = head_candidates(sizes, {s.table for s in sizes})
    found += proposed_candidates(project.advise.candidates)
    by_scenario: dict[str, list[tuple[Plan, bool]]] = {}
    for item in items:
        by_scenario.setdefault(item.scenario.name, []).extend(
            (plan, mode == "generic") for mode, plan in bench.plans(item).items())
    for scenario, plans in by_scenario.items():
        found += generated_candidates(scenario, [p for p, _ in plans], [g for _, g in plans])
    unique: dict[tuple[object, ...], Candidate] = {}
    for candidate in found:
        same = unique.get(candidate.shape)
        if same is None:
            unique[candidate.shape] = candidate
        elif candidate.origin and same.kind not in (HEAD, PROPOSED):
            unique[candidate.shape] = replace(same, origin=tuple(dict.fromkeys(
                same.origin + candidate.origin)))
    return list(unique.values())


@contextlib.contextmanager
def _built(conn: psycopg.Connection[Any], candidates: list[Candidate], sizes: Sequence[Any],
           state: _State, progress: Progress) -> Iterator[dict[str, Built]]:
    """Each candidate that is not at head built for real (seconds, size, definition); a
    head index rebuilt (REINDEX) for its build time. Every index built here is dropped
    again on the way out, whatever happens (Ctrl-C too)."""
    built: dict[str, Built] = {}
    made: list[str] = []
    head = {s.index: s for s in sizes}
    definitions = {unnamed(s.definition, _quote(conn, s.index)): s.index for s in sizes}
    try:
        todo = [c for c in candidates if c.kind != HEAD]
        for number, candidate in enumerate(todo, 1):
            started = time.monotonic()
            try:
                conn.execute(candidate.create_sql())
            except psycopg.Error as exc:
                raise ConfigError(f"candidate {candidate.name} ({candidate.text}): "
                                  f"{str(exc).strip().splitlines()[0]}") from None
            made.append(candidate.name)
            seconds = time.monotonic() - started
            size, definition = _size_and_definition(conn, candidate.name)
            twin = definitions.get(definition)
            if twin is not None:  # the same index as one at head or built before
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(candidate.name)))
                made.remove(candidate.name)
                candidates.remove(candidate)
                continue
            definitions[definition] = candidate.name
            built[candidate.name] = Built(candidate.name, round(seconds, 3), size, definition)
            progress(f"candidate {number}/{len(todo)} built: {candidate.name} "
                     f"({candidate.text}), {seconds:.2f} s, {size:,} bytes")
        for candidate in candidates:
            if candidate.kind == HEAD:
                size = head[candidate.name]
                kept = state.rebuilt.get(candidate.name)
                if kept is None and not candidate.constraint:
                    started = time.monotonic()
                    conn.execute(sql.SQL("REINDEX INDEX {}").format(
                        sql.Identifier(candidate.name)))
                    kept = state.rebuilt[candidate.name] = round(time.monotonic() - started, 3)
                new_size, definition = _size_and_definition(conn, candidate.name)
                built[candidate.name] = Built(candidate.name, kept or 0.0, new_size,
                                              definition or size.definition)
        yield built
    finally:
        for name in made:
            with contextlib.suppress(psycopg.Error):
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))


def _quote(conn: psycopg.Connection[Any], name: str) -> str:
    row = conn.execute("SELECT quote_ident(%s)", [name]).fetchone()
    return str(row[0]) if row else name


def _size_and_definition(conn: psycopg.Connection[Any], name: str) -> tuple[int, str]:
    row = conn.execute("SELECT pg_relation_size(c.oid), pg_get_indexdef(c.oid), "
                       "quote_ident(c.relname) FROM pg_class c WHERE c.relname = %s "
                       "AND c.relnamespace = 'public'::regnamespace", [name]).fetchone()
    assert row is not None
    return int(row[0]), unnamed(str(row[1]), str(row[2]))


def _advise(bench: Bench, candidates: list[Candidate], built: dict[str, Built],
            sizes: Sequence[Any], used: Mapping[str, Sequence[str]], tables: set[str],
            head_measured: Mapping[tuple[str, str], ModeMeasurement], project: Project,
            settings: AdviseOptions, state: _State, progress: Progress, policy: Any,
            warmup: int, runs: int, judge: _Judge) -> Advice:
    by_name = {c.name: c for c in candidates}
    bench.droppable = [c.name for c in candidates if not c.constraint]
    head_set = frozenset(c.name for c in candidates if c.kind == HEAD and not c.constraint)
    fixed = [c.name for c in candidates if c.constraint]
    fixed_bytes = sum(built[n].size_bytes for n in fixed)
    index_bytes = {n: b.size_bytes for n, b in built.items()}
    head_bytes = fixed_bytes + sum(index_bytes[n] for n in head_set)
    budgets = Budgets(head_bytes * settings.max_size_ratio,
                      len(by_name) if settings.max_indexes is None else settings.max_indexes,
                      fixed_bytes)
    if fixed_bytes > budgets.max_bytes:
        raise ConfigError(f"advise.max_size_ratio {settings.max_size_ratio}: no set meets it: "
                          f"the constraint indexes alone take {fixed_bytes:,} bytes, "
                          f"{fixed_bytes / head_bytes:.2f}x the head's {head_bytes:,}")
    progress(f"advise: {len(candidates)} candidates ({len(built)} measured for size); "
             f"head set {len(head_set)} indexes, {head_bytes:,} bytes")
    head_outcome = bench.trial(head_set)
    search = Search(bench, by_name, index_bytes, head_outcome, budgets, policy, progress,
                    min_gain=settings.min_gain)
    banned: dict[str, str] = {}
    pinned: dict[str, str] = {}
    measured_again = 0
    while True:
        result = search.run(head_set, head_outcome, frozenset(banned), frozenset(pinned))
        if not search.fits(result.present):
            raise ConfigError("advise budgets: no set meets them (max_size_ratio "
                              f"{settings.max_size_ratio}, max_indexes {budgets.max_indexes})")
        measured_again += 1
        progress(f"the chosen set measured again as a whole ({len(result.present)} indexes)")
        changes, culprits = _measured_whole(bench, result.present, head_set, head_measured,
                                            policy, warmup, runs, judge)
        fresh = {n: why for n, why in culprits.items()
                 if n not in banned and n not in pinned and n in by_name}
        if not fresh or measured_again >= 4:
            break
        for name, why in fresh.items():
            if name in head_set:
                pinned[name] = why
                progress(f"constraint: {why}; the search goes on keeping {name}")
            else:
                banned[name] = why
                progress(f"constraint: {why}; the search goes on without {name}")
    writes, deltas, set_sizes = _write_costs(bench, project, result, head_set, by_name,
                                             index_bytes, fixed_bytes, settings, state,
                                             progress)
    chosen = result.present
    limit = writes.get("head")
    if limit is not None and writes.get("chosen") is not None:
        allowed = limit.wal_bytes_per_row * settings.max_write_ratio
        if writes["chosen"].wal_bytes_per_row > allowed:
            fallback = [label for label in writes if label.startswith("path ")
                        and writes[label].wal_bytes_per_row <= allowed]
            if not fallback and limit.wal_bytes_per_row <= allowed:
                writes["path 0"], set_sizes["path 0"] = limit, set_sizes["head"]
                fallback = ["path 0"]  # the head's own set is the best that meets it
            if not fallback:
                raise ConfigError(f"advise.max_write_ratio {settings.max_write_ratio}: no "
                                  f"measured set meets it (head {limit.wal_bytes_per_row:,.1f} "
                                  f"WAL bytes per row; chosen "
                                  f"{writes['chosen'].wal_bytes_per_row:,.1f})")
            step = int(fallback[-1].split()[1])
            chosen = result.path[step]
            result.present = chosen
            result.outcome = bench.trial(chosen)
            changes, _ = _measured_whole(bench, chosen, head_set, head_measured, policy,
                                         warmup, runs, judge)
            writes["chosen"] = writes[fallback[-1]]
            set_sizes["chosen"] = set_sizes[fallback[-1]]
    advice = Advice("", "", 0, candidates,
                    drop_candidates(sizes, used, tables), built, head_set, chosen,
                    head_outcome, result.outcome, result, changes, writes, deltas, set_sizes,
                    {**banned, **pinned}, budgets, settings, measured_again, fixed=fixed)
    state.save()
    return advice


@dataclass(frozen=True)
class _Judge:
    """The gate's own verdict on an item under a set, against its head measurement, as
    `compare` would give it (latency left out: one short run cannot judge it)."""

    context: Context
    references: Mapping[str, Reference]
    head: Mapping[str, CaseResult]
    revision: str
    profile: str

    def new_failures(self, conn: psycopg.Connection[Any], item: Item,
                     measurements: Sequence[ModeMeasurement]) -> list[str]:
        catalog = read_catalog(conn, self.revision, self.profile)  # the set's own indexes
        verdict = evaluate(item.scenario, item.case, measurements,
                           replace(self.context, catalog=catalog), self.references.get(item.id))
        before = self.head.get(item.id)
        then = {(f.mode, f.check) for f in before.verdict.findings
                if f.severity >= Severity.FAIL} if before is not None else set()
        return [f"{f.mode or 'item'} {f.check}: {f.message}" for f in verdict.findings
                if f.severity >= Severity.FAIL and f.check not in NOISY
                and (f.mode, f.check) not in then]


def _measured_whole(bench: Bench, present: frozenset[str], head_set: frozenset[str],
                    head: Mapping[tuple[str, str], ModeMeasurement], policy: Any,
                    warmup: int, runs: int, judge: _Judge
                    ) -> tuple[list[CaseChange], dict[str, str]]:
    """Every item and plan mode under the set, timed as a run times them, beside head and
    judged by the gate. An item the gate fails that it did not at head names the index to
    blame: one it moved to (left out from then on), or an expected one the set dropped
    (kept from then on)."""
    changes: list[CaseChange] = []
    culprits: dict[str, str] = {}
    with bench.applied(present):
        for item in bench.items:
            measured = [bench.analyze(item, mode, warmup=warmup, runs=runs)
                        for mode in item.modes]
            failures = judge.new_failures(bench.conn, item, measured)
            for after in measured:
                before = head.get((item.id, after.mode))
                if before is None:
                    continue
                change = _change(item.id, after.mode, before, after)
                changes.append(change)
                grew = buffers_grew(change.before_buffers, change.after_buffers, policy)
                if not grew and not failures:
                    continue
                why = (f"{item.id} {after.mode}: {change.before_buffers:,} -> "
                       f"{change.after_buffers:,} shared buffers"
                       + (f"; {failures[0]}" if failures else ""))
                for index in set(change.after_indexes) - set(change.before_indexes):
                    culprits.setdefault(index, why)
                expected = set(item.case.expect.indexes)
                for index in (set(change.before_indexes) - set(change.after_indexes)):
                    if index in expected or grew:
                        culprits.setdefault(index, why)
    return changes, culprits


def _change(item: str, mode: str, before: ModeMeasurement, after: ModeMeasurement) -> CaseChange:
    def p(m: ModeMeasurement, attr: str) -> float | None:
        return round(getattr(m.timing, attr), 3) if m.timing else None

    return CaseChange(item, mode, " > ".join(before.plan.shape()), " > ".join(after.plan.shape()),
                      tuple(sorted(before.plan.indexes_used())),
                      tuple(sorted(after.plan.indexes_used())),
                      before.plan.shared_buffers, after.plan.shared_buffers,
                      p(before, "median_ms"), p(after, "median_ms"), p(before, "p95_ms"),
                      p(after, "p95_ms"))


def _write_costs(bench: Bench, project: Project, result: SearchResult, head_set: frozenset[str],
                 by_name: Mapping[str, Candidate], index_bytes: Mapping[str, int],
                 fixed_bytes: int, settings: AdviseOptions, state: _State,
                 progress: Progress) -> tuple[dict[str, WriteCost], dict[str, float],
                                              dict[str, int]]:
    """WAL bytes per row (and rows/s) for the head's set, the chosen one, the final few sets
    of the search, and per index added, dropped or proposed: head with it, or without."""
    sets: dict[str, frozenset[str]] = {"head": head_set, "chosen": result.present}
    last = len(result.path) - 1
    for step in range(max(1, last - settings.final_sets + 1), last):
        sets[f"path {step}"] = result.path[step]
    sizes = {label: fixed_bytes + sum(index_bytes.get(n, 0) for n in present)
             for label, present in sets.items()}
    writes = project.capacity_writes
    if writes is None or settings.write_rounds == 0:
        return {}, {}, sizes
    table = writes.table
    singles = sorted({n for n in result.present ^ head_set}
                     | {n for n, c in by_name.items() if c.kind == PROPOSED})
    for name in singles:
        if by_name[name].table == table:
            sets[f"index {name}"] = head_set ^ {name}
    rows = prepare_source(bench.conn, writes, str(project.manifest),
                          min(writes.write_rows, settings.write_rows))
    if not rows:
        raise ConfigError(f"{project.manifest}: capacity_review.source: returned no row")
    costs: dict[str, WriteCost] = {}
    for number, (label, present) in enumerate(sets.items(), 1):
        key = ",".join(sorted(present))
        kept = state.writes.get(key)
        if kept is None:
            kept = write_cost(bench, present, writes, str(project.manifest), rows,
                              settings.write_rounds)
            state.writes[key] = kept
            state.save()
        costs[label] = kept
        progress(f"write cost {number}/{len(sets)}: {label}: {kept.wal_bytes_per_row:,.1f} WAL "
                 f"bytes per row, {kept.rows_per_second:,.0f} rows/s")
    bench.conn.execute("DROP TABLE IF EXISTS capacity_source")
    deltas = {label.removeprefix("index "): round(cost.wal_bytes_per_row
                                                  - costs["head"].wal_bytes_per_row, 1)
              for label, cost in costs.items() if label.startswith("index ")}
    return ({label: c for label, c in costs.items() if not label.startswith("index ")},
            deltas, sizes)


def _fingerprint(profile: str, seed: int, revision: str, items: Sequence[Item],
                 project: Project, settings: AdviseOptions) -> str:
    return fingerprint({"format": STATE_FORMAT, "profile": profile, "seed": seed,
                        "revision": revision, "items": [i.id for i in items],
                        "values": [repr(sorted(i.values.items())) for i in items],
                        "proposals": [asdict(p) for p in project.advise.candidates],
                        "write_rows": settings.write_rows, "rounds": settings.write_rounds})


class _State:
    """What an advice measured so far, kept beside its report: a plan's reading per item,
    mode and shape, head indexes' rebuild times, the write costs of sets."""

    def __init__(self, path: Path | None, key: str) -> None:
        self.path, self.key = path, key
        self.readings: dict[str, Reading] = {}
        self.rebuilt: dict[str, float] = {}
        self.writes: dict[str, WriteCost] = {}
        self.resumed = 0
        self._dirty = 0

    @classmethod
    def open(cls, settings: AdviseOptions, key: str) -> _State:
        path = settings.state_dir / STATE_FILE if settings.state_dir is not None else None
        state = cls(path, key)
        if path is None or settings.fresh or not path.exists():
            return state
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return state
        if data.get("key") != key:
            return state
        state.readings = {k: Reading(tuple(v["shape"]), v["buffers"], tuple(v["indexes"]),
                                     v["cost"]) for k, v in data.get("readings", {}).items()}
        state.rebuilt = dict(data.get("rebuilt", {}))
        state.writes = {k: WriteCost(v["wal_bytes_per_row"], v["rows_per_second"],
                                     tuple(v["rows_per_second_rounds"]), v["rows"])
                        for k, v in data.get("writes", {}).items()}
        state.resumed = len(state.readings)
        return state

    def measured(self, key: str, reading: Reading) -> None:
        self._dirty += 1
        if self._dirty >= 10:
            self.save()

    def save(self) -> None:
        if self.path is None:
            return
        self._dirty = 0
        data = {"format": STATE_FORMAT, "key": self.key,
                "readings": {k: asdict(v) for k, v in self.readings.items()},
                "rebuilt": self.rebuilt,
                "writes": {k: asdict(v) for k, v in self.writes.items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps(data) + "\n", "the advice's state")
        except HarnessError:
            pass


__all__ = ["STATE_FILE", "Advice", "AdviseOptions", "CaseChange", "advise", "reading_key"]
