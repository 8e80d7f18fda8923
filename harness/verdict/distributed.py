"""Distributed checks: a plan with a Citus scan judged as the cluster runs it. A tenant-scoped
query must be a router plan (one task) unless its scenario declares `fan_out = true`; every
task on a shard holding rows uses the expected index; the tasks are shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.measure import citus
from harness.measure.plans import PlanNode
from harness.project.distribution import Distribution
from harness.verdict import catalogue
from harness.verdict.checks import FAIL, INFO, Finding

if TYPE_CHECKING:
    from harness.measure.explain import ModeMeasurement
    from harness.project.scenarios import Case, Scenario

# The layout of the cluster the run's plans come from (set by the run's database when it
# opens on a distributed provider; unset, a Citus plan is judged with no declaration).
_LAYOUT: list[Distribution] = []


def use(distribution: Distribution | None) -> None:
    """Judges the plans read from now on against `distribution` (None: against none)."""
    _LAYOUT[:] = [distribution] if distribution is not None else []


def layout() -> Distribution | None:
    return _LAYOUT[0] if _LAYOUT else None


@dataclass(frozen=True)
class TaskJudged:
    """One task of a distributed plan, for one table it reads."""

    task: PlanNode
    table: str
    shard: int | None
    shard_rows: int | None  # None when the cluster's catalog was not read
    indexes: frozenset[str]
    access: str

    @property
    def number(self) -> int:
        return int(self.task.details.get("Task", 0))


def tasks_reading(root: PlanNode, table: str) -> list[TaskJudged]:
    """The tasks of the plan that read `table`, with the shard each read and its rows."""
    found = []
    known = citus.shard_rows()
    for task in citus.tasks(root):
        scans = [n for n in task.walk() if _reads(n, table)]
        if not scans:
            continue
        shard = _shard_of(scans[0])
        indexes = frozenset(i for n in scans for i in n.indexes_reading(n.relation or ""))
        found.append(TaskJudged(task, table, shard, known.get(shard) if shard else None,
                                indexes, ", ".join(n.label for n in scans)))
    return found


def _reads(node: PlanNode, table: str) -> bool:
    """The node scans `table`, or an empty shard of it (which keeps its own name)."""
    if node.relation is None:
        return False
    shard = citus.shard_of(node.relation)
    return node.relation == table or (shard is not None and node.relation == f"{table}_{shard}")


def _shard_of(node: PlanNode) -> int | None:
    name = node.details.get("Shard Relation Name") or node.relation or ""
    return citus.shard_of(str(name))


def judged_tasks(m: ModeMeasurement, table: str, min_rows: int) -> list[TaskJudged]:
    """The tasks held to the expected index on `table`: their shard holds more than
    `min_rows` rows (an empty or small shard may scan as it likes)."""
    return [t for t in tasks_reading(m.plan.root, table)
            if t.shard_rows is not None and t.shard_rows > min_rows]


def task_count(root: PlanNode) -> int:
    """Tasks the plan's Citus scans ran (their Task Count, every one shown or refused)."""
    return sum(len([c for c in node.children if c.node_type == citus.TASK])
               for node in root.walk() if node.node_type == citus.CUSTOM_SCAN)


def check_distributed(scenario: Scenario, case: Case, measurements: Sequence[ModeMeasurement],
                      context: Any) -> list[Finding]:
    """The findings of the distributed checks for one item (none for a plan on one node)."""
    findings: list[Finding] = []
    distribution = layout()
    distributed = [m for m in measurements if citus.tasks(m.plan.root)]
    if not distributed:
        return findings
    tenant_scoped = distribution is not None and distribution.tenant_scoped(scenario.sql)
    min_rows = distribution.min_shard_rows if distribution is not None else 1
    for m in distributed:
        findings += _router(scenario, case, m, tenant_scoped, min_rows)
        findings += _shard_indexes(scenario, case, m, min_rows)
    wanted = set(scenario.expect.plan_modes) - {m.mode for m in measurements}
    if "generic" in wanted:
        findings.append(Finding(INFO, catalogue.GENERIC_NOT_APPLICABLE.name, "generic",
                                "generic plan not applicable on a Citus cluster: each worker "
                                "gets the statement with its values, so its plan is the same "
                                "in both modes (and a multi-shard statement cannot be planned "
                                "generic: could not create distributed plan)"))
    return findings


def _router(scenario: Scenario, case: Case, m: ModeMeasurement, tenant_scoped: bool,
            min_rows: int) -> list[Finding]:
    count = task_count(m.plan.root)
    nodes = {str(t.details.get("Node", "")) for t in citus.tasks(m.plan.root)}
    if tenant_scoped and not scenario.fan_out and count > 1:
        return [Finding(FAIL, catalogue.ROUTER.name, m.mode,
                        f"{m.mode} plan ran {count} tasks on {len(nodes)} nodes for one "
                        f"tenant's rows: a tenant-scoped query should be a router plan (one "
                        f"task); declare fan_out = true in {scenario.path.name} if it is meant")]
    kind = "router plan" if count == 1 else "fan-out"
    held = [f"{table} {len(judged_tasks(m, table, min_rows))} of "
            f"{len(tasks_reading(m.plan.root, table))}"
            for table in case.expect.accepted(scenario.table)]
    return [Finding(INFO, catalogue.TASKS.name, m.mode,
                    f"{m.mode} plan: {kind}, {count} task{'s' if count != 1 else ''} on "
                    f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}; tasks held to the "
                    f"expected index: {', '.join(held) or 'none expected'}")]


def _shard_indexes(scenario: Scenario, case: Case, m: ModeMeasurement,
                   min_rows: int) -> list[Finding]:
    findings = []
    for table, accepted in case.expect.accepted(scenario.table).items():
        judged = judged_tasks(m, table, min_rows)
        missed = [t for t in judged if not t.indexes & set(accepted)]
        if not missed:
            continue
        first = missed[0]
        findings.append(Finding(
            FAIL, catalogue.SHARD_INDEX.name, m.mode,
            f"{m.mode} plan: {len(missed)} of {len(judged)} tasks on shards of {table} with "
            f"more than {min_rows:,} rows did not use {' or '.join(accepted)} (task "
            f"{first.number}, shard {first.shard}, {first.shard_rows:,} rows: {first.access})"))
    return findings


catalogue.PLAN_KIND_CHECKS.append(check_distributed)
