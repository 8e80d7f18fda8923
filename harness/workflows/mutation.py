"""Mutation proof: would the suite notice if an index went bad? Every case runs once at head
(the reference), then each index is mutated in turn, each way it can go bad in a real
migration, the cases that may change run again, and the mutation is undone on the same
database:

- *drop*: a migration drops it;
- *fewer_columns*: a migration rebuilds it, same name, without its last key column (indexes
  of more than one key column that back no constraint);
- *invalid*: it is marked invalid (`pg_index.indisvalid = false`, on the harness's own
  database), as a failed CREATE INDEX CONCURRENTLY leaves one.

The mutated cases are judged as a plain run judges them (their checks and budgets; no
reference), and against the reference only to classify. Per index and kind:

- *caught*: an item fails or errors that did not at head (a failing check of any kind);
- *redundant*: nothing fails and no plan mode reads more shared buffers beyond the
  tolerance: another index serves as well (named);
- *unused*: no plan read it at head, so the mutation changes no plan;
- *missed*: a plan read it, nothing fails, and a plan mode now reads more shared buffers
  beyond the tolerance, or reads its table without any index: the suite would let it
  through.

Latency is not judged here: each mutation is one short run on a possibly busy machine."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from harness.build.datagen import Progress
from harness.errors import ConfigError
from harness.lifecycle import Lifecycle
from harness.measure.capacity import IndexSize, duplicates_and_redundancy
from harness.options import RunOptions
from harness.project.manifest import Project
from harness.project.scenarios import Case, Scenario, read_scenarios
from harness.run import PlanRun
from harness.verdict.catalogue import NOISY
from harness.verdict.gate import Policy, Severity, buffers_grew
from harness.verdict.results import CaseResult, item_id

CAUGHT, REDUNDANT, UNUSED, MISSED = "caught", "redundant", "unused", "missed"
DROP, FEWER_COLUMNS, INVALID = "drop", "fewer_columns", "invalid"
KINDS = (DROP, FEWER_COLUMNS, INVALID)
_MIGRATION = '''"""plan-harness mutation proof: {title}.

Revision ID: {revision}
Revises: {head}
"""

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


@dataclass(frozen=True)
class Mutation:
    index: str
    table: str
    verdict: str  # caught | redundant | unused | missed
    reason: str
    kind: str = DROP  # drop | fewer_columns | invalid
    failing: dict[str, list[str]] = field(default_factory=dict)  # item -> its new failing checks
    served_by: dict[str, list[str]] = field(default_factory=dict)  # item -> indexes instead
    used_by: list[str] = field(default_factory=list)  # items whose plans read it at head


@dataclass(frozen=True)
class MutationReport:
    profile: str
    revision: str
    items: int
    mutations: list[Mutation]

    @property
    def tally(self) -> dict[str, int]:
        return {v: sum(1 for m in self.mutations if m.verdict == v)
                for v in (CAUGHT, REDUNDANT, UNUSED, MISSED)}

    def tally_of(self, kind: str) -> dict[str, int]:
        return {v: sum(1 for m in self.mutations if m.verdict == v and m.kind == kind)
                for v in (CAUGHT, REDUNDANT, UNUSED, MISSED)}

    @property
    def missed(self) -> list[Mutation]:
        return [m for m in self.mutations if m.verdict == MISSED]


Cases = Sequence[tuple[Scenario, Case]]


def mutation_proof(config: RunOptions, project: Project, indexes: Sequence[str] | None,
                   progress: Progress, kinds: Sequence[str] = KINDS) -> MutationReport:
    """Mutates each of `indexes` in turn, each of `kinds` of way (indexes None: every index
    the project lists under [mutation_proof], or else every non-primary-key index on a table
    the plans read)."""
    with tempfile.TemporaryDirectory(prefix="plan-harness-mutation-") as tmp:
        migrations = Path(tmp) / "migrations"
        shutil.copytree(project.migrations_dir, migrations,
                        ignore=shutil.ignore_patterns("__pycache__"))
        mutated = replace(project, migrations_dir=migrations)
        cases = [(s, c) for s in read_scenarios(project.scenarios_dir) for c in s.cases]
        settings = replace(config, migration_check=False, baseline=None,
                           update_baseline=False)
        with Lifecycle(settings, mutated, progress) as life:
            run = life.run
            _refuse_unknown(indexes, run.facts.index_sizes)
            progress(f"mutation proof: every case at {run.facts.revision}, the reference")
            head = life.measure(cases)
            names = _chosen(indexes, project, run.facts.index_sizes, head)
            mutations: list[Mutation] = []
            for kind in kinds:
                for name in names:
                    mutation = _mutate(run, migrations / "versions", len(mutations), kind,
                                       name, cases, head)
                    if mutation is not None:
                        mutations.append(mutation)
            return MutationReport(run.facts.profile, run.facts.revision, len(cases), mutations)


def _refuse_unknown(given: Sequence[str] | None, sizes: Sequence[IndexSize]) -> None:
    """An --index the database does not have, refused before anything is measured."""
    known = {s.index for s in sizes}
    for name in given or ():
        if name not in known:
            raise ConfigError(f"--index {name}: no such index at head (indexes: "
                              f"{', '.join(sorted(known))})")


def _chosen(given: Sequence[str] | None, project: Project, sizes: Sequence[IndexSize],
            head: Sequence[CaseResult]) -> list[str]:
    if given:
        return list(given)
    if project.mutation_indexes:
        return list(project.mutation_indexes)
    tables = {n.relation for r in head for m in r.measurements for n in m.plan.nodes()
              if n.relation}
    return [s.index for s in sizes if s.table in tables and not s.primary]


def _mutate(run: PlanRun, versions: Path, number: int, kind: str, index: str,
            cases: Cases, head: Sequence[CaseResult]) -> Mutation | None:
    """One mutation of one index, applied, its cases run, and undone; None when the kind
    does not apply to the index (fewer columns of a one-column index)."""
    sizes = {s.index: s for s in run.facts.index_sizes}
    if index not in sizes:
        return Mutation(index, "", REDUNDANT, "not built at head: the migrations kept an "
                        "equivalent index instead", kind)
    size = sizes[index]
    if kind == FEWER_COLUMNS and not _can_lose_a_column(size):
        return None
    used_by = [item_id(r.scenario, r.case) for r in head
               if any(index in m.plan.indexes_used() for m in r.measurements)]
    if not used_by:
        return Mutation(index, size.table, UNUSED, "no plan reads it at head, so the "
                        "mutation changes no plan", kind)
    affected = _cases_it_may_change(size, cases, head)
    with _applied(run, versions, number, kind, size):
        run.references = {}  # judged as a plain run judges them
        run.progress(f"mutation {number + 1}: {index} {_DONE[kind]}; running the "
                     f"{len(affected)} cases whose plans read {size.table}")
        mutated = [run.run_case(s, c) for s, c in affected]
    return classify(size, used_by, head, mutated, _serving(run.facts.index_sizes, index),
                    kind, run.config.policy)


_DONE = {DROP: "dropped", FEWER_COLUMNS: "rebuilt without its last key column",
         INVALID: "marked invalid"}


def _can_lose_a_column(size: IndexSize) -> bool:
    """A rebuild without the last key column keeps at least one, and breaks no constraint
    (a unique index on fewer columns could not be built on the data)."""
    return len(size.columns) > 1 and not size.unique and not size.primary


@contextlib.contextmanager
def _applied(run: PlanRun, versions: Path, number: int, kind: str,
             size: IndexSize) -> Iterator[None]:
    if kind == INVALID:
        with _marked_invalid(run, size.index):
            yield
        return
    revision = f"plan_harness_mutation_{number:03d}"  # alembic_version holds 32 characters
    path = versions / f"{revision}.py"
    head_revision = run.facts.revision
    path.write_text(_migration(kind, size, revision, head_revision))
    # An index on plain columns carries no statistics of its own: dropping and rebuilding it
    # leaves the planner's statistics as the reference run had them (a new ANALYZE would
    # draw another sample, a change the index did not make); an expression's are the index's.
    analyze = not _on_plain_columns(size)
    try:
        run.migrate(revision, analyze=analyze)
        yield
    finally:
        run.migrate(head_revision, allow_downgrade=True, analyze=analyze)
        path.unlink()


def _migration(kind: str, size: IndexSize, revision: str, head: str) -> str:
    drop = f"    op.execute('DROP INDEX \"{size.index}\"')"
    rebuild = f"    op.execute({size.definition!r})"
    if kind == DROP:
        title, upgrade = f"drop {size.index}", drop
    else:
        title = f"rebuild {size.index} without its last key column"
        upgrade = f"{drop}\n    op.execute({_without_last_column(size)!r})"
    downgrade = rebuild if kind == DROP else f"{drop}\n{rebuild}"
    return _MIGRATION.format(title=title, revision=revision, head=head, upgrade=upgrade,
                             downgrade=downgrade)


def _without_last_column(size: IndexSize) -> str:
    include = f" INCLUDE ({', '.join(size.include)})" if size.include else ""
    where = f" WHERE {size.predicate}" if size.predicate else ""
    return (f'CREATE INDEX "{size.index}" ON "{size.table}" USING {size.method} '
            f"({', '.join(size.columns[:-1])}){include}{where}")


@contextlib.contextmanager
def _marked_invalid(run: PlanRun, index: str) -> Iterator[None]:
    """The index as a failed CREATE INDEX CONCURRENTLY leaves it: present, not valid. Only
    on the harness's own database (a catalog update needs a superuser)."""
    def mark(valid: bool) -> None:
        run.connection.execute("UPDATE pg_index SET indisvalid = %s "
                               "WHERE indexrelid = %s::regclass", [valid, f'"{index}"'])
        run.database.read_catalog(run.facts.revision, run.database.profile)

    mark(False)
    try:
        yield
    finally:
        mark(True)


def _cases_it_may_change(size: IndexSize, cases: Cases,
                         head: Sequence[CaseResult]) -> list[tuple[Scenario, Case]]:
    """The cases whose plan may change when the index goes: those whose plans read its table
    at head. A plan that reads no row of a table chooses no index of it; a unique index may
    have let the planner remove a join to its table altogether, so for one of those every
    case runs."""
    if size.unique:
        return list(cases)
    reading = {item_id(r.scenario, r.case) for r in head
               if any(n.relation == size.table for m in r.measurements for n in m.plan.nodes())}
    return [(s, c) for s, c in cases if item_id(s, c) in reading]


def _on_plain_columns(size: IndexSize) -> bool:
    """Every key and INCLUDE column of the index is a column, not an expression."""
    return all(_PLAIN_COLUMN.fullmatch(c) for c in (*size.columns, *size.include))


_PLAIN_COLUMN = re.compile(r'[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+"')


def _serving(sizes: Sequence[IndexSize], index: str) -> list[str]:
    duplicates, wider = duplicates_and_redundancy([asdict(s) for s in sizes])[index]
    return duplicates + wider


def classify(size: IndexSize, used_by: Sequence[str], head: Sequence[CaseResult],
             mutated: Sequence[CaseResult], covering: Sequence[str] = (), kind: str = DROP,
             policy: Policy | None = None) -> Mutation:
    """Caught, redundant or missed, from the same cases with and without the mutation."""
    policy = policy or Policy()
    before = {item_id(r.scenario, r.case): r for r in head}
    failing: dict[str, list[str]] = {}
    served_by: dict[str, list[str]] = {}
    worse: list[str] = []
    for result in mutated:
        item = item_id(result.scenario, result.case)
        new = _new_failures(before.get(item), result)
        if new:
            failing[item] = new
        worse += _reads_more(before.get(item), result, policy)
        if item in used_by:
            instead = sorted({i for m in result.measurements
                              for i in m.plan.indexes_on(size.table)})
            served_by[item] = instead
            if not instead:
                worse.append(f"{item} reads {size.table} without an index")
    if failing:
        return Mutation(size.index, size.table, CAUGHT,
                        f"{len(failing)} of {len(mutated)} items fail", kind, failing,
                        served_by, list(used_by))
    if worse:
        return Mutation(size.index, size.table, MISSED,
                        f"nothing fails, yet {'; '.join(worse)}", kind, failing, served_by,
                        list(used_by))
    instead = sorted({i for names in served_by.values() for i in names} | set(covering))
    return Mutation(size.index, size.table, REDUNDANT,
                    f"nothing fails; served instead by {', '.join(instead) or 'the same plans'}",
                    kind, failing, served_by, list(used_by))


def _reads_more(before: CaseResult | None, after: CaseResult, policy: Policy) -> list[str]:
    """The plan modes of `after` reading more shared buffers than at head, beyond the
    tolerance."""
    if before is None:
        return []
    then = {m.mode: m.plan.shared_buffers for m in before.measurements}
    return [f"{item_id(after.scenario, after.case)} {m.mode} plan reads "
            f"{then[m.mode]:,} -> {m.plan.shared_buffers:,} shared buffers"
            for m in after.measurements
            if m.mode in then and buffers_grew(then[m.mode], m.plan.shared_buffers, policy)]


def _new_failures(before: CaseResult | None, after: CaseResult) -> list[str]:
    """The failing checks (mode: check) of `after` that `before` did not have."""
    def failing(result: CaseResult | None) -> set[str]:
        if result is None:
            return set()
        return {f"{f.mode or 'item'}: {f.check}" for f in result.verdict.findings
                # a single short run cannot judge latency: it never makes a mutation caught
                if f.severity >= Severity.FAIL and f.check not in NOISY}

    return sorted(failing(after) - failing(before))


def report_json(report: MutationReport) -> str:
    return json.dumps({"profile": report.profile, "revision": report.revision,
                       "items": report.items, "tally": report.tally,
                       "mutations": [asdict(m) for m in report.mutations]}, indent=1) + "\n"


def report_markdown(report: MutationReport) -> str:
    tally = ", ".join(f"{count} {verdict}" for verdict, count in report.tally.items())
    kinds = sorted({m.kind for m in report.mutations}, key=KINDS.index)
    lines = [f"## plan-harness mutation proof: {tally}", "",
             f"Profile `{report.profile}`, revision `{report.revision}`, {report.items} items; "
             "each index mutated in turn, each way: " + "; ".join(
                 f"{kind}: " + ", ".join(f"{n} {verdict}" for verdict, n
                                         in report.tally_of(kind).items() if n)
                 for kind in kinds) + ".", "",
             "| index | mutation | table | verdict | why |", "|---|---|---|---|---|"]
    for m in report.mutations:
        lines.append(f"| {m.index} | {m.kind} | {m.table} | {m.verdict} | {_why(m)} |")
    return "\n".join(lines) + "\n"


def _why(mutation: Mutation) -> str:
    """The reason, and for a caught mutation each failing check once, with its plan modes:
    "3 of 9 items fail: index_definition, index and shared_buffers in both plans"."""
    if mutation.verdict != CAUGHT:
        return mutation.reason.replace("|", "\\|")
    modes: dict[str, set[str]] = {}
    for checks in mutation.failing.values():
        for entry in checks:
            mode, check = entry.split(": ", 1)
            modes.setdefault(check, set()).add(mode)
    groups: dict[str, list[str]] = {}
    for check, found in modes.items():
        groups.setdefault(_where(found), []).append(check)
    named = "; ".join(_and(checks) + (f" {where}" if where else "")
                      for where, checks in groups.items())
    return f"{mutation.reason}: {named}".replace("|", "\\|")


def _where(modes: set[str]) -> str:
    plans = sorted(modes - {"item"})
    if not plans:
        return ""
    return "in both plans" if len(plans) == 2 else f"in the {plans[0]} plan"


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
