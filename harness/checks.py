"""Checks: turn measured plans and timings into findings and a verdict."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from harness.explain import ModeMeasurement
from harness.plans import PlanNode
from harness.project import CheckDefaults
from harness.scenarios import Case, Scenario

FAIL, WARN, INFO = "fail", "warn", "info"


@dataclass(frozen=True)
class Finding:
    severity: str  # fail | warn | info
    check: str  # index | seq_scan | forbidden_node | p95 | shared_buffers | misestimate | ...
    mode: str | None
    message: str


@dataclass(frozen=True)
class Catalog:
    """What the checks need to know of the database the plans ran on."""

    table_rows: Mapping[str, float]
    indexes: frozenset[str]
    revision: str
    profile: str


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return not any(f.severity == FAIL for f in self.findings)

    @property
    def outcome(self) -> str:
        if not self.passed:
            return "fail"
        return "warn" if any(f.severity == WARN for f in self.findings) else "pass"

    def of(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]


def evaluate(
    scenario: Scenario,
    case: Case,
    measurements: Sequence[ModeMeasurement],
    catalog: Catalog,
    defaults: CheckDefaults,
) -> Verdict:
    findings: list[Finding] = list(check_indexes_exist(scenario, case, catalog))
    for m in measurements:
        findings += check_index_used(scenario, case, m, catalog)
        findings += check_seq_scans(
            m, catalog, scenario.expect.seq_scan_min_rows or defaults.seq_scan_min_rows
        )
        findings += check_forbidden_nodes(m, case.expect.forbid_nodes)
        findings += check_budgets(scenario, m, catalog.profile)
        findings += check_misestimates(m, defaults.misestimate_factor)
        if not m.plan_held:
            findings.append(
                Finding(
                    WARN,
                    "plan_changed",
                    m.mode,
                    "the plan changed between the checked EXPLAIN and the timed executions",
                )
            )
    findings += check_plan_modes_agree(scenario, case, measurements)
    return Verdict(tuple(findings))


def check_plan_modes_agree(
    scenario: Scenario, case: Case, measurements: Sequence[ModeMeasurement]
) -> list[Finding]:
    """A warning when the custom and generic plans read the table differently: a driver's
    prepared statement switches to the generic plan after five executions, so production
    may run either. Two of the case's expected indexes count as the same: the scenario
    declares them interchangeable, and between two such indexes of nearly equal cost the
    choice follows ANALYZE's random sample from one build to the next."""
    access = {m.mode: m.plan.access_summary(scenario.table) for m in measurements}
    if len({_interchangeable(a, case.expect.indexes) for a in access.values()}) <= 1:
        return []
    detail = "; ".join(f"{mode} plan: {summary}" for mode, summary in access.items())
    return [Finding(WARN, "plans_differ", None, f"custom and generic plans differ ({detail})")]


def _interchangeable(access: str, expected: Sequence[str]) -> str:
    # longest names first, so that no name is replaced inside a longer one
    for name in sorted(expected, key=len, reverse=True):
        access = re.sub(rf"\b{re.escape(name)}\b", "<expected index>", access)
    return access


def check_indexes_exist(scenario: Scenario, case: Case, catalog: Catalog) -> list[Finding]:
    if any(name in catalog.indexes for name in case.expect.indexes):
        return []
    names = " or ".join(case.expect.indexes)
    field = "expect.index"
    if case.expect.indexes != scenario.expect.indexes:
        field = f"cases[{scenario.cases.index(case)}].expect.index"
    return [
        Finding(
            FAIL,
            "index_missing",
            None,
            f"{scenario.path}: {field}: {names} does not exist at revision {catalog.revision}",
        )
    ]


def check_index_used(
    scenario: Scenario, case: Case, m: ModeMeasurement, catalog: Catalog
) -> list[Finding]:
    used = m.plan.indexes_on(scenario.table)
    if used & set(case.expect.indexes):
        return []
    return [
        Finding(
            FAIL,
            "index",
            m.mode,
            f"{m.mode} plan did {m.plan.access_summary(scenario.table)} instead of using "
            f"{' or '.join(case.expect.indexes)}",
        )
    ]


def check_seq_scans(m: ModeMeasurement, catalog: Catalog, min_rows: int) -> list[Finding]:
    findings = []
    for node in m.plan.nodes():
        if node.node_type != "Seq Scan" or node.relation is None:
            continue
        rows = catalog.table_rows.get(node.relation, 0.0)
        if rows > min_rows:
            findings.append(
                Finding(
                    FAIL,
                    "seq_scan",
                    m.mode,
                    f"{m.mode} plan has Seq Scan on {node.relation} "
                    f"({rows:,.0f} rows > threshold {min_rows:,})",
                )
            )
    return findings


def check_forbidden_nodes(m: ModeMeasurement, forbidden: Sequence[str]) -> list[Finding]:
    findings = []
    for node in m.plan.nodes():
        if node.node_type in forbidden:
            detail = _sort_key(node)
            findings.append(
                Finding(
                    FAIL,
                    "forbidden_node",
                    m.mode,
                    f"{m.mode} plan has a {node.node_type}{detail}, which the "
                    f"scenario forbids (the index should give this order)",
                )
            )
    return findings


def _sort_key(node: PlanNode) -> str:
    key = node.details.get("Sort Key")
    return f" (Sort Key: {', '.join(key)})" if key else ""


def check_budgets(scenario: Scenario, m: ModeMeasurement, profile: str) -> list[Finding]:
    if m.plan.root.actual_rows is None:  # planned only (EXPLAIN without ANALYZE)
        return [Finding(INFO, "budgets", m.mode, f"{m.mode} plan: latency and shared buffers "
                        "not measured (the statement was planned, not run)")]
    findings = []
    p95_budget = scenario.budget.p95_ms.get(profile)
    if p95_budget is None:
        findings.append(Finding(INFO, "p95", m.mode, f"no p95 budget at profile {profile}"))
    elif m.timing is not None and m.timing.p95_ms > p95_budget:
        findings.append(
            Finding(
                FAIL,
                "p95",
                m.mode,
                f"{m.mode} plan p95 {m.timing.p95_ms:.2f} ms > budget "
                f"{p95_budget:g} ms at profile {profile} "
                f"(median {m.timing.median_ms:.2f} ms over "
                f"{len(m.timing.samples_ms)} runs)",
            )
        )
    buffer_budget = scenario.budget.shared_buffers.get(profile)
    if buffer_budget is None:
        findings.append(
            Finding(
                INFO, "shared_buffers", m.mode, f"no shared-buffers budget at profile {profile}"
            )
        )
    elif m.plan.shared_buffers > buffer_budget:
        findings.append(
            Finding(
                FAIL,
                "shared_buffers",
                m.mode,
                f"{m.mode} plan touched {m.plan.shared_buffers:,} shared buffers "
                f"> budget {buffer_budget:,} at profile {profile}",
            )
        )
    return findings


def check_misestimates(
    m: ModeMeasurement,
    factor: float,
    min_rows: float = 100.0,
) -> list[Finding]:
    findings = []
    for node, stopped_early in _nodes_with_limit_flag(m.plan.root, False):
        ratio = misestimate_ratio(node, min_rows, stopped_early)
        if ratio is not None and ratio > factor:
            findings.append(
                Finding(
                    WARN,
                    "misestimate",
                    m.mode,
                    f"{m.mode} plan: {node.label} estimated "
                    f"{node.plan_rows:,.0f} rows, got {node.actual_rows:,.0f} "
                    f"(x{ratio:.0f})",
                )
            )
    return findings


def _nodes_with_limit_flag(
    node: PlanNode,
    under_limit: bool,
) -> Iterator[tuple[PlanNode, bool]]:
    """Each node with whether a Limit above it may have stopped it early."""
    yield node, under_limit
    for child in node.children:
        yield from _nodes_with_limit_flag(child, under_limit or node.node_type == "Limit")


def misestimate_ratio(
    node: PlanNode,
    min_rows: float,
    stopped_early: bool = False,
) -> float | None:
    """How many times the estimate is off (per loop), ignoring nodes too small to matter and
    nodes a Limit stopped before they produced all the rows they were estimated to."""
    if node.actual_rows is None or max(node.plan_rows, node.actual_rows) < min_rows:
        return None
    if stopped_early and node.actual_rows < node.plan_rows:
        return None
    low, high = sorted((node.plan_rows, node.actual_rows))
    return high / max(low, 1.0)
