"""Mutation proof: would the suite notice if an index went? Every case runs once at head
(the reference), then for each index a migration drops it, every case runs again against its
reference, and the migration is undone. Each index is:

- *caught*: an item fails or errors that did not at head (a failing check of any kind,
  whether or not its message names the index; shared buffers beyond the tolerance count);
- *redundant*: nothing fails, and every item whose plan read it now reads its table through
  another index (named);
- *unused*: no plan read it at head, so dropping it changes no plan;
- *missed*: a plan read it, nothing fails, and some item now reads its table without any
  index: the suite would let it be dropped silently.

Latency is not judged here: each mutation is one short run on a possibly busy machine."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
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
from harness.verdict.gate import Severity
from harness.verdict.results import CaseResult, item_id

CAUGHT, REDUNDANT, UNUSED, MISSED = "caught", "redundant", "unused", "missed"
_MIGRATION = '''"""plan-harness mutation proof: drop {index}.

Revision ID: {revision}
Revises: {head}
"""

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('DROP INDEX "{index}"')


def downgrade() -> None:
    op.execute({definition!r})
'''


@dataclass(frozen=True)
class Mutation:
    index: str
    table: str
    verdict: str  # caught | redundant | unused | missed
    reason: str
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

    @property
    def missed(self) -> list[Mutation]:
        return [m for m in self.mutations if m.verdict == MISSED]


Cases = Sequence[tuple[Scenario, Case]]


def mutation_proof(config: RunOptions, project: Project, indexes: Sequence[str] | None,
                   progress: Progress) -> MutationReport:
    """Drops each of `indexes` in turn (None: every index the project lists under
    [mutation_proof], or else every non-primary-key index on a table the plans read)."""
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
            progress(f"mutation proof: every case at {run.facts.revision}, the reference")
            head = life.measure(cases)
            names = _chosen(indexes, project, run.facts.index_sizes, head)
            mutations = [_mutate(run, migrations / "versions", n, name, cases, head)
                         for n, name in enumerate(names)]
            return MutationReport(run.facts.profile, run.facts.revision, len(cases), mutations)


def _chosen(given: Sequence[str] | None, project: Project, sizes: Sequence[IndexSize],
            head: Sequence[CaseResult]) -> list[str]:
    known = {s.index for s in sizes}
    if given:
        unknown = [name for name in given if name not in known]
        if unknown:
            raise ConfigError(f"--index {unknown[0]}: no such index at head (indexes: "
                              f"{', '.join(sorted(known))})")
        return list(given)
    if project.mutation_indexes:
        return list(project.mutation_indexes)
    tables = {n.relation for r in head for m in r.measurements for n in m.plan.nodes()
              if n.relation}
    return [s.index for s in sizes if s.table in tables and not s.primary]


def _mutate(run: PlanRun, versions: Path, number: int, index: str, cases: Cases,
            head: Sequence[CaseResult]) -> Mutation:
    sizes = {s.index: s for s in run.facts.index_sizes}
    if index not in sizes:
        return Mutation(index, "", REDUNDANT, "not built at head: the migrations kept an "
                        "equivalent index instead")
    size = sizes[index]
    used_by = [item_id(r.scenario, r.case) for r in head
               if any(index in m.plan.indexes_used() for m in r.measurements)]
    if not used_by:
        return Mutation(index, size.table, UNUSED, "no plan reads it at head, so dropping it "
                        "changes no plan")
    revision = f"plan_harness_mutation_{number:03d}"  # alembic_version holds 32 characters
    path = versions / f"{revision}.py"
    path.write_text(_MIGRATION.format(index=index, revision=revision, head=run.facts.revision,
                                      definition=size.definition))
    head_revision = run.facts.revision
    # An index on plain columns carries no statistics of its own: dropping and rebuilding it
    # leaves the planner's statistics as the reference run had them (a new ANALYZE would
    # draw another sample, a change the index did not make); an expression's are the index's.
    analyze = not _on_plain_columns(size)
    try:
        run.migrate(revision, analyze=analyze)
        run.use_reference(head, f"with {index}")
        affected = _cases_it_may_change(size, cases, head)
        run.progress(f"mutation {number + 1}: {index} dropped; running the {len(affected)} "
                     f"cases whose plans read {size.table}")
        mutated = [run.run_case(s, c) for s, c in affected]
    finally:
        run.migrate(head_revision, allow_downgrade=True, analyze=analyze)
        path.unlink()
    return classify(size, used_by, head, mutated, _serving(run.facts.index_sizes, index))


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
             mutated: Sequence[CaseResult], covering: Sequence[str] = ()) -> Mutation:
    """Caught, redundant or missed, from the same cases with and without the index."""
    before = {item_id(r.scenario, r.case): r for r in head}
    failing: dict[str, list[str]] = {}
    served_by: dict[str, list[str]] = {}
    unserved: list[str] = []
    for result in mutated:
        item = item_id(result.scenario, result.case)
        new = _new_failures(before.get(item), result)
        if new:
            failing[item] = new
        if item in used_by:
            instead = sorted({i for m in result.measurements
                              for i in m.plan.indexes_on(size.table)})
            served_by[item] = instead
            if not instead:
                unserved.append(item)
    if failing:
        return Mutation(size.index, size.table, CAUGHT,
                        f"{len(failing)} of {len(mutated)} items fail", failing, served_by,
                        list(used_by))
    if unserved:
        return Mutation(size.index, size.table, MISSED,
                        f"nothing fails, yet {', '.join(unserved)} now read {size.table} "
                        "without an index", failing, served_by, list(used_by))
    instead = sorted({i for names in served_by.values() for i in names} | set(covering))
    return Mutation(size.index, size.table, REDUNDANT,
                    f"nothing fails; served instead by {', '.join(instead)}",
                    failing, served_by, list(used_by))


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
    lines = [f"## plan-harness mutation proof: {tally}", "",
             f"Profile `{report.profile}`, revision `{report.revision}`, {report.items} items "
             "run with each index dropped in turn.", "",
             "| index | table | verdict | why |", "|---|---|---|---|"]
    for m in report.mutations:
        lines.append(f"| {m.index} | {m.table} | {m.verdict} | {_why(m)} |")
    return "\n".join(lines) + "\n"


def _why(mutation: Mutation) -> str:
    if mutation.verdict != CAUGHT:
        return mutation.reason.replace("|", "\\|")
    first = next(iter(mutation.failing.items()))
    more = len(mutation.failing) - 1
    return (f"{mutation.reason}: {first[0]} ({', '.join(first[1])})"
            + (f" and {more} more" if more else "")).replace("|", "\\|")
