"""Checks: the one verdict function. Measurements, expectations, budgets, a reference (a
baseline file or the same item at a base revision) and the gate's policy go in; a verdict
comes out, and nothing changes it afterwards."""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from harness.measure.catalog import Catalog
from harness.measure.explain import ModeMeasurement, percentile
from harness.measure.plans import Plan, PlanNode
from harness.project.manifest import CheckDefaults
from harness.project.scenarios import Budget, Case, Scenario
from harness.verdict import catalogue
from harness.verdict.gate import (
    Noise,
    Outcome,
    Policy,
    Severity,
    Timed,
    buffers_grew,
    buffers_shrank,
    latency_change,
    latency_ratio,
    latency_threshold,
    normalized_samples,
)
from harness.verdict.indexes import Expected, expected_indexes, reads_fewer_everywhere

ERROR, FAIL, WARN, INFO = Severity.ERROR, Severity.FAIL, Severity.WARN, Severity.INFO
# Information worth showing beside the item although it does not change the outcome.
SHOWN_INFO = catalogue.SHOWN_INFO


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str  # the name of a check of harness.verdict.catalogue
    mode: str | None
    message: str


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]

    @property
    def rank(self) -> Outcome:
        return max((f.severity.outcome for f in self.findings), default=Outcome.PASS)

    @property
    def outcome(self) -> str:
        return self.rank.label

    @property
    def passed(self) -> bool:
        return self.rank <= Outcome.WARN

    def of(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    @property
    def first_reason(self) -> str:
        """The first finding of the item's own outcome: what a one-line report shows."""
        worst = [f for f in self.findings
                 if f.severity is not INFO and f.severity.outcome == self.rank]
        return f"{worst[0].check}: {worst[0].message}" if worst else ""


def error_verdict(reason: str) -> Verdict:
    """An item that could not be measured (SQL rejected, a table or column gone, an anchor
    without a value) has outcome error, with its one-line reason."""
    return Verdict((Finding(ERROR, catalogue.ERROR.name, None, reason),))


@dataclass(frozen=True)
class ModeReference:
    """What an earlier run measured of one plan mode of an item."""

    shape: tuple[str, ...]
    shared_buffers: int
    p95_ms: float | None = None
    best_ms: float | None = None  # the fastest timed execution
    canary_ms: float | None = None  # the noise canary's fastest beside it
    # every timed execution, and the canary right after each (a run of this process; a
    # baseline file keeps only the fastest)
    samples_ms: tuple[float, ...] = ()
    canary_samples_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class Reference:
    """An item as an earlier run saw it: `source` names that run ("the baseline x.toml",
    "revision 2025..."). Latency against it gates only when it was measured in the same
    process on the same database (`latency_gates`); otherwise it is a warning."""

    source: str
    modes: Mapping[str, ModeReference]
    latency_gates: bool = False
    noise: Noise = field(default_factory=Noise)  # the canary's spread over the reference run


@dataclass(frozen=True)
class Context:
    """What a verdict needs beyond the item: the run's profile and schema, the project's
    thresholds, the gate's policy, whether failures gate (a preview's do not), and the
    fastest noise canary of the run (to divide out a busy machine's slowdown)."""

    catalog: Catalog
    defaults: CheckDefaults
    policy: Policy = field(default_factory=Policy)
    gating: bool = True
    canary_base_ms: float | None = None


def evaluate(
    scenario: Scenario,
    case: Case,
    measurements: Sequence[ModeMeasurement],
    context: Context,
    reference: Reference | None = None,
    first_misses: Sequence[Finding] = (),
) -> Verdict:
    """The verdict of one item. `first_misses` are the latency failures of a first
    measurement that was repeated (`measurements` are the second): they are reported, and
    only the second decides."""
    catalog, defaults = context.catalog, context.defaults
    min_rows = seq_scan_threshold(scenario, defaults)
    findings = check_expected_access(scenario, case, measurements, context, reference)
    for m in measurements:
        findings += check_seq_scans(m, catalog, min_rows)
        findings += check_forbidden_nodes(m, case.expect.forbid_nodes)
        findings += check_budgets(case.budget, m, catalog.profile, context.canary_base_ms)
        findings += check_misestimates(m, defaults.misestimate_factor)
        if not m.plan_held:
            findings.append(Finding(WARN, catalogue.PLAN_CHANGED.name, m.mode, "the plan "
                                    "changed between the checked EXPLAIN and the timed "
                                    "executions"))
        if reference is not None and m.mode in reference.modes:
            findings += check_reference(m, reference.modes[m.mode], reference, context.policy)
    findings += check_unchecked_tables(scenario, case, measurements, catalog, min_rows)
    for check_kind in catalogue.PLAN_KIND_CHECKS:
        findings += check_kind(scenario, case, measurements, context)
    findings += check_plan_modes_agree(scenario, case, measurements)
    findings += [Finding(INFO, catalogue.remeasured(f.check), f.mode,
                         f"first measurement: {f.message}; measured again") for f in first_misses]
    if not context.gating:
        findings = [_not_gating(f) for f in findings]
    return Verdict(tuple(findings))


def seq_scan_threshold(scenario: Scenario, defaults: CheckDefaults) -> int:
    """The scenario's own threshold when it sets one, 0 included (every Seq Scan fails)."""
    own = scenario.expect.seq_scan_min_rows
    return defaults.seq_scan_min_rows if own is None else own


def _not_gating(finding: Finding) -> Finding:
    if finding.severity != FAIL:
        return finding
    return Finding(WARN, finding.check, finding.mode, f"preview, not gating: {finding.message}")


def latency_suspects(case: Case, measurements: Sequence[ModeMeasurement], context: Context,
                     reference: Reference | None = None) -> list[Finding]:
    """The latency findings of a first measurement, to be measured again before any
    verdict: a p95 over budget, or a run slower or faster than the reference beyond the
    noise. One burst on a shared machine (during this run or the reference's) is neither a
    regression nor an improvement; a real one is seen twice."""
    found = [f for m in measurements
             for f in _p95_budget(case.budget, m, context.catalog.profile,
                                  context.canary_base_ms) if f.severity == FAIL]
    if reference is not None:
        for m in measurements:
            if m.mode in reference.modes:
                found += [f for f in _latency_against(m, reference.modes[m.mode], reference,
                                                      context.policy)
                          if f.severity == FAIL or f.check == catalogue.LATENCY_FASTER.name]
    return found


def check_plan_modes_agree(
    scenario: Scenario, case: Case, measurements: Sequence[ModeMeasurement]
) -> list[Finding]:
    """A warning when the custom and generic plans read a table differently: a driver's
    prepared statement switches to the generic plan after five executions, so production
    may run either. Reading the same index by another scan type (Index Scan against Bitmap
    Heap Scan) is the same access; so are two indexes a case accepts for one table: the
    scenario declares them interchangeable, and between two such indexes of nearly equal
    cost the choice follows ANALYZE's random sample from one build to the next."""
    accepted = case.expect.accepted(scenario.table)
    signatures = {m.mode: access_signature(m.plan, accepted) for m in measurements}
    if len(set(signatures.values())) <= 1:
        return []
    tables = sorted({t for m in measurements for t in _relations(m.plan)})
    detail = "; ".join(
        f"{m.mode} plan: " + ", ".join(m.plan.access_summary(t) for t in tables)
        for m in measurements)
    return [Finding(WARN, catalogue.PLANS_DIFFER.name, None,
                    f"custom and generic plans differ ({detail})")]


def access_signature(plan: Plan, accepted: Mapping[str, Sequence[str]]
                     ) -> frozenset[tuple[str, str]]:
    """How the plan reads each table, without the scan type: the indexes it reads (a table's
    accepted indexes as one), or the node type of a scan that reads no index."""
    signature = set()
    for node in plan.nodes():
        if node.relation is None:
            continue
        indexes = node.indexes_reading(node.relation)
        for name in indexes or {node.node_type}:
            same = name in accepted.get(node.relation, ())
            signature.add((node.relation, "<accepted>" if same else name))
    return frozenset(signature)


def _relations(plan: Plan) -> list[str]:
    return list(dict.fromkeys(n.relation for n in plan.nodes() if n.relation))


def check_expected_access(scenario: Scenario, case: Case,
                          measurements: Sequence[ModeMeasurement], context: Context,
                          reference: Reference | None = None) -> list[Finding]:
    """Each expected index exists, valid and defined as recorded, and every plan mode reads
    its table through it. A plan that reads the table through another index with fewer
    shared buffers in every mode is not a regression but a stale expectation: a warning."""
    findings = []
    before = {mode: r.shared_buffers for mode, r in (reference.modes.items()
                                                     if reference else ())}
    for expected in expected_indexes(scenario, case, context.catalog):
        own = [Finding(f.severity, f.check, None, f.message) for f in expected.findings]
        own += [f for m in measurements for f in _index_used(expected, m)]
        failing = [f for f in own if f.severity == FAIL]
        better = failing and reads_fewer_everywhere(
            expected.table, measurements, before, case.budget, context.catalog.profile)
        if better:
            own = [f for f in own if f.severity != FAIL]
            own.append(_stale_expectation(expected, failing, measurements, better))
        findings += own
    return findings


def _index_used(expected: Expected, m: ModeMeasurement) -> list[Finding]:
    if m.plan.indexes_on(expected.table) & set(expected.live):
        return []
    return [Finding(FAIL, catalogue.INDEX.name, m.mode,
                    f"{m.mode} plan did {m.plan.access_summary(expected.table)} instead of "
                    f"using {' or '.join(expected.written)}")]


def _stale_expectation(expected: Expected, failing: Sequence[Finding],
                       measurements: Sequence[ModeMeasurement], better: str) -> Finding:
    used = sorted({name for m in measurements for name in m.plan.indexes_on(expected.table)})
    definition = [f.message for f in failing if f.check != catalogue.INDEX.name]
    why = f" ({'; '.join(definition)})" if definition else ""
    return Finding(WARN, catalogue.STALE_EXPECTATION.name, None,
                   f"the plans read {expected.table} through {', '.join(used)} instead of "
                   f"{' or '.join(expected.written)}{why}, with fewer shared buffers in every "
                   f"mode ({better}): an improvement; update the expectation")


def check_unchecked_tables(
    scenario: Scenario,
    case: Case,
    measurements: Sequence[ModeMeasurement],
    catalog: Catalog,
    min_rows: int,
) -> list[Finding]:
    """A table of the plan above the seq-scan threshold with no expected access: dropping
    its index would go unnoticed unless it turned into a Seq Scan, so say so."""
    accepted = case.expect.accepted(scenario.table)
    seen = {t for m in measurements for t in _relations(m.plan)}
    findings = []
    for table in sorted(seen - set(accepted)):
        rows = catalog.table_rows.get(table, 0.0)
        if rows <= min_rows:
            continue
        access = "; ".join(f"{m.mode}: {m.plan.access_summary(table)}" for m in measurements)
        findings.append(Finding(
            WARN, catalogue.TABLE_UNCHECKED.name, None,
            f"the plan reads {table} ({rows:,.0f} rows; {access}) but the scenario expects no "
            f"access path for it: add [expect.tables.{table}] index = ..."))
    return findings


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
                    catalogue.SEQ_SCAN.name,
                    m.mode,
                    f"{m.mode} plan has Seq Scan on {node.relation} "
                    f"({rows:,.0f} rows > threshold {min_rows:,})",
                )
            )
    return findings


def check_forbidden_nodes(m: ModeMeasurement, forbidden: Sequence[str]) -> list[Finding]:
    findings = []
    for node in m.plan.nodes():
        if node.node_type in forbidden and not node.merges_parts:
            detail = _sort_key(node)
            findings.append(
                Finding(
                    FAIL,
                    catalogue.FORBIDDEN_NODE.name,
                    m.mode,
                    f"{m.mode} plan has a {node.node_type}{detail}, which the "
                    f"scenario forbids (the index should give this order)",
                )
            )
    return findings


def _sort_key(node: PlanNode) -> str:
    key = node.details.get("Sort Key")
    return f" (Sort Key: {', '.join(key)})" if key else ""


def check_budgets(budget: Budget, m: ModeMeasurement, profile: str,
                  canary_base_ms: float | None = None) -> list[Finding]:
    """Shared buffers against the budget, and the p95 with the machine's slowdown at the time
    divided out (the noise canary measured beside the case, against the run's fastest)."""
    if m.plan.root.actual_rows is None:  # planned only (EXPLAIN without ANALYZE)
        return [Finding(INFO, catalogue.BUDGETS.name, m.mode, f"{m.mode} plan: latency and "
                        "shared buffers not measured (the statement was planned, not run)")]
    return [*_p95_budget(budget, m, profile, canary_base_ms),
            *_buffer_budget(budget, m, profile)]


def _p95_budget(budget: Budget, m: ModeMeasurement, profile: str,
                canary_base_ms: float | None) -> list[Finding]:
    limit = budget.p95_limit(profile, m.mode)
    if limit is None:
        return [Finding(INFO, catalogue.P95.name, m.mode, f"no p95 budget at profile {profile}")]
    if m.timing is None:
        return []
    judged = percentile(normalized_samples(
        m.timing.samples_ms, m.canary.samples_ms if m.canary else (), canary_base_ms), 95)
    if judged <= limit:
        return []
    slowdown = "" if judged == m.timing.p95_ms else (
        f", {judged:.2f} ms with the machine's slowdown beside each run divided out")
    return [Finding(FAIL, catalogue.P95.name, m.mode,
                    f"{m.mode} plan p95 {m.timing.p95_ms:.2f} ms{slowdown} > budget "
                    f"{limit:g} ms at profile {profile} (median {m.timing.median_ms:.2f} ms "
                    f"over {len(m.timing.samples_ms)} runs)")]


def _buffer_budget(budget: Budget, m: ModeMeasurement, profile: str) -> list[Finding]:
    limit = budget.buffers_limit(profile, m.mode)
    if limit is None:
        return [Finding(INFO, catalogue.SHARED_BUFFERS.name, m.mode,
                        f"no shared-buffers budget at profile {profile}")]
    if m.plan.shared_buffers <= limit:
        return []
    return [Finding(FAIL, catalogue.SHARED_BUFFERS.name, m.mode,
                    f"{m.mode} plan touched {m.plan.shared_buffers:,} shared buffers > budget "
                    f"{limit:,} at profile {profile}")]


def check_reference(m: ModeMeasurement, before: ModeReference, reference: Reference,
                    policy: Policy) -> list[Finding]:
    """The item against an earlier run of it: more shared buffers beyond the tolerance fail
    whatever the plan (an accepted index can read 30x more), a changed plan is shown, and
    latency beyond the noise fails when measured beside it on the same database."""
    now = m.plan.shared_buffers
    figures = (f"{before.shared_buffers:,} -> {now:,} shared buffers ({reference.source})")
    shape = m.plan.shape()
    change = "" if shape == before.shape else f"; plan {_shape_change(before.shape, shape)}"
    if buffers_grew(before.shared_buffers, now, policy):
        return [Finding(FAIL, catalogue.BUFFERS_GREW.name, m.mode,
                        f"{m.mode} plan reads more: {figures}, beyond "
                        f"{policy.buffer_ratio:g}x and +{policy.buffer_slack}{change}")]
    findings = []
    if buffers_shrank(before.shared_buffers, now, policy):
        findings.append(Finding(INFO, catalogue.BUFFERS_SHRANK.name, m.mode,
                                f"{m.mode} plan reads less: {figures}{change}"))
    elif change:
        findings.append(Finding(INFO, catalogue.PLAN_SHAPE.name, m.mode,
                                f"{m.mode} plan changed, reading as much: {figures}{change}"))
    return findings + _latency_against(m, before, reference, policy)


def _latency_against(m: ModeMeasurement, before: ModeReference, reference: Reference,
                     policy: Policy) -> list[Finding]:
    if m.timing is None or before.best_ms is None:
        return []
    pairs = _timed_pairs(m, before)
    moves = {latency_change(then, now, reference.noise, policy) for then, now, _ in pairs}
    if len(moves) != 1 or 0 in moves:
        return []  # within the noise, or two estimates that disagree
    then, now, measure = pairs[0]
    also = "".join(f"; {label} {t.ms:.2f} -> {n.ms:.2f} ms, x{latency_ratio(t, n):.2f}"
                   for t, n, label in pairs[1:])
    text = (f"{m.mode} plan {measure} {then.ms:.2f} -> {now.ms:.2f} ms "
            f"({reference.source}): {latency_text(then, now, reference.noise, policy)}{also}")
    if moves == {-1}:
        return [Finding(INFO, catalogue.LATENCY_FASTER.name, m.mode, text)]
    return [Finding(FAIL if reference.latency_gates else WARN, catalogue.LATENCY_SLOWER.name,
                    m.mode, text)]


def _timed_pairs(m: ModeMeasurement, before: ModeReference) -> list[tuple[Timed, Timed, str]]:
    """The estimates of the two runs' latencies that must agree on a change. Measured in
    this process with a canary after each execution: the median execution of each run, each
    execution with its own canary's slowdown (against the calmest canary of both runs)
    divided out; and the fastest execution of each, beside its run's fastest canary. A busy
    machine fools each in its own way (a wait the canary beside it missed moves a median; a
    run without any undisturbed execution moves a minimum), a slower statement moves both.
    A baseline file keeps only the fastest: that one alone."""
    assert m.timing is not None and before.best_ms is not None
    fastest = (Timed(before.best_ms, before.canary_ms),
               Timed(m.timing.min_ms, m.canary.min_ms if m.canary else None), "fastest run")
    canaries = m.canary.samples_ms if m.canary else ()
    if not (before.canary_samples_ms and canaries):
        return [fastest]
    calm = min(*before.canary_samples_ms, *canaries)
    then = normalized_samples(before.samples_ms, before.canary_samples_ms, calm)
    now = normalized_samples(m.timing.samples_ms, canaries, calm)
    return [(Timed(statistics.median(then), None), Timed(statistics.median(now), None),
             "median run (each beside its own canary)"), fastest]


def latency_text(before: Timed, after: Timed, noise: Noise, policy: Policy) -> str:
    return (f"x{latency_ratio(before, after):.2f} with the machine's own change divided out, "
            f"beyond x{latency_threshold(noise, policy):.2f} and "
            f"{max(policy.latency_floor_ms, noise.spread_ms):.1f} ms (the tolerance, or the "
            f"noise measured in the runs: x{noise.ratio:.2f}, {noise.spread_ms:.1f} ms)")


def _shape_change(before: Sequence[str], after: Sequence[str]) -> str:
    gone = [n for n in before if n not in after]
    new = [n for n in after if n not in before]
    if not gone and not new:
        return "has the same nodes in another order"
    parts = []
    if gone:
        parts.append("no longer " + "; ".join(gone))
    if new:
        parts.append("now " + "; ".join(new))
    return ", ".join(parts)


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
                    catalogue.MISESTIMATE.name,
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


# Nodes that pass a bitmap, not rows: EXPLAIN ANALYZE always reports 0 actual rows for them.
_ROWLESS = frozenset({"BitmapAnd", "BitmapOr"})


def misestimate_ratio(
    node: PlanNode,
    min_rows: float,
    stopped_early: bool = False,
) -> float | None:
    """How many times the estimate is off (per loop), ignoring nodes too small to matter and
    nodes a Limit stopped before they produced all the rows they were estimated to."""
    if node.actual_rows is None or max(node.plan_rows, node.actual_rows) < min_rows:
        return None
    if node.node_type in _ROWLESS:
        return None
    if stopped_early and node.actual_rows < node.plan_rows:
        return None
    low, high = sorted((node.plan_rows, node.actual_rows))
    return high / max(low, 1.0)
