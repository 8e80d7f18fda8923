"""Mutation proof: does the suite notice when an index goes? For each named index, a
migration that drops it is applied to the seeded database at head, every scenario case runs,
and the migration is undone. An index is *caught* when a case fails with a message naming
it; *redundant* when nothing fails and another index serves its lookups (a duplicate, or a
longer B-tree with the same leading columns), or when the migrations never built it because
an equivalent index exists; otherwise it is *missed*: the suite would let it be dropped
silently."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from harness.capacity import duplicates_and_redundancy
from harness.config import Config
from harness.datagen import Progress
from harness.project import Project
from harness.scenarios import Case, Scenario, load_scenarios
from harness.session import CaseResult, PlanRun

CAUGHT, REDUNDANT, MISSED = "caught", "redundant", "missed"
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
    op.execute("DROP INDEX {index}")


def downgrade() -> None:
    op.execute({definition!r})
'''


@dataclass(frozen=True)
class Mutation:
    index: str
    verdict: str  # caught | redundant | missed
    reason: str
    failed_items: list[str]  # items that failed naming the index
    other_failures: list[str]  # items that failed without naming it


def mutation_proof(config: Config, project: Project, indexes: Sequence[str],
                   progress: Progress) -> list[Mutation]:
    with tempfile.TemporaryDirectory(prefix="plan-harness-mutation-") as tmp:
        migrations = Path(tmp) / "migrations"
        shutil.copytree(project.migrations_dir, migrations,
                        ignore=shutil.ignore_patterns("__pycache__"))
        mutated = replace(project, migrations_dir=migrations)
        cases = [(s, c) for s in load_scenarios(project.scenarios_dir) for c in s.cases]
        with PlanRun(replace(config, migration_check="off", baseline=None), mutated,
                     progress) as run:
            return [_mutate(run, migrations / "versions", n, name, cases)
                    for n, name in enumerate(indexes)]


def _mutate(run: PlanRun, versions: Path, number: int, index: str,
            cases: Sequence[tuple[Scenario, Case]]) -> Mutation:
    sizes = {s.index: s for s in run.facts.index_sizes}
    relations = duplicates_and_redundancy([asdict(s) for s in run.facts.index_sizes])
    if index not in sizes:
        return Mutation(index, REDUNDANT, "not built at head: the migration kept an "
                        "equivalent index instead", [], [])
    head = run.facts.revision
    revision = f"plan_harness_mutation_{number:03d}"  # alembic_version holds 32 characters
    path = versions / f"{revision}.py"
    path.write_text(_MIGRATION.format(index=index, revision=revision, head=head,
                                      definition=sizes[index].definition))
    try:
        run.migrate(revision)
        run.progress(f"mutation {number + 1}: {index} dropped; running every case")
        results = [run.run_case(s, c) for s, c in cases]
    finally:
        run.migrate(head, allow_downgrade=True)
        path.unlink()
    return _classify(index, results, *relations[index])


def _classify(index: str, results: Sequence[CaseResult], duplicates: list[str],
              wider: list[str]) -> Mutation:
    failed = [r for r in results if not r.verdict.passed]
    naming = [_item(r) for r in failed if any(index in f.message for f in r.verdict.of("fail"))]
    others = [_item(r) for r in failed if _item(r) not in naming]
    if naming:
        return Mutation(index, CAUGHT, f"{len(naming)} items fail naming it", naming, others)
    if duplicates or wider:
        served = ", ".join(duplicates + wider)
        return Mutation(index, REDUNDANT, f"nothing fails; indexes that serve its lookups: "
                        f"{served}", [], others)
    return Mutation(index, MISSED, "nothing fails, and no other index covers it", [], others)


def _item(result: CaseResult) -> str:
    return f"{result.scenario.name}[{result.case.id}]"
