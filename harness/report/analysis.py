"""What the report shows beyond the raw results: plan trees with their costliest node, timing
histograms, the index usage matrix with duplicate and redundant indexes, and beside the
comparison of two runs (judged in harness.verdict.comparison) their plan diffs and endpoint
speed-ups. Pure functions of results documents: no database, no HTML."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.measure.capacity import duplicates_and_redundancy, enforces_constraint
from harness.measure.plans import Plan, PlanNode
from harness.verdict.catalogue import CHECKS
from harness.verdict.catalogue import title as check_title
from harness.verdict.comparison import ItemChange, RunComparison, judge_runs
from harness.verdict.gate import Noise, Policy, Severity

# Node fields worth a line under the node, in the order people read them.
_NODE_DETAILS = (
    "Index Cond", "Recheck Cond", "Filter", "Rows Removed by Filter", "Join Filter",
    "Hash Cond", "Merge Cond", "Sort Key", "Sort Method", "Presorted Key", "Group Key",
    "Strategy", "Heap Fetches", "Workers Planned", "Workers Launched",
)


_BUFFER_KINDS = (
    ("shared hit", "Shared Hit Blocks"), ("shared read", "Shared Read Blocks"),
    ("shared dirtied", "Shared Dirtied Blocks"), ("shared written", "Shared Written Blocks"),
    ("temp read", "Temp Read Blocks"), ("temp written", "Temp Written Blocks"),
)
DEFAULT_MISESTIMATE_FACTOR = 10.0


@dataclass
class TreeNode:
    label: str
    details: list[tuple[str, str]]
    estimated_rows: float
    actual_rows: float | None  # over all loops
    loops: int
    self_ms: float | None  # time in this node alone, over all loops
    self_cost: float
    shared_buffers: int
    inclusive_ms: float | None = None  # this node and everything below it, over all loops
    buffers: list[tuple[str, int]] = field(default_factory=list)  # the non-zero kinds
    # how many times the estimate is off per loop (either way); None without ANALYZE
    factor: float | None = None
    misestimated: bool = False
    share: float = 0.0  # of the plan's total self time (or cost, without ANALYZE)
    inclusive_share: float = 0.0  # of the root's inclusive time
    costliest: bool = False
    children: list[TreeNode] = field(default_factory=list)

    def walk(self) -> Iterable[TreeNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def estimate_factor(node: PlanNode) -> float | None:
    """Estimated against actual rows per loop, as a factor of at least 1 whichever way it is
    off (an empty side counts as one row); None without ANALYZE or for a node never run."""
    if node.actual_rows is None or node.never_executed:
        return None
    low, high = sorted((node.plan_rows, node.actual_rows))
    return high / max(low, 1.0)


def _tree(node: PlanNode) -> TreeNode:
    inclusive = node.inclusive_ms
    below = sum(child.inclusive_ms or 0.0 for child in node.children)
    below_cost = sum(child.total_cost for child in node.children)
    return TreeNode(
        label=node.own_label,
        details=_details(node),
        estimated_rows=node.plan_rows,
        actual_rows=node.total_actual_rows,
        loops=node.loops,
        # parallel workers and InitPlans can make children look longer than the parent
        self_ms=None if inclusive is None else max(inclusive - below, 0.0),
        self_cost=max(node.total_cost - below_cost, 0.0),
        shared_buffers=node.shared_buffers,
        inclusive_ms=inclusive,
        buffers=[(name, int(node.details[key])) for name, key in _BUFFER_KINDS
                 if node.details.get(key)],
        factor=estimate_factor(node),
        children=[_tree(child) for child in node.children],
    )


def _details(node: PlanNode) -> list[tuple[str, str]]:
    return [(key, _detail(node.details[key])) for key in _NODE_DETAILS if key in node.details]


def _detail(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def as_plan(plan: Mapping[str, Any] | Plan) -> Plan:
    """A stored EXPLAIN (FORMAT JSON) object (a results document's) read into the model."""
    return plan if isinstance(plan, Plan) else Plan.from_explain(plan)


def plan_tree(plan: Mapping[str, Any] | Plan,
              misestimate_factor: float = DEFAULT_MISESTIMATE_FACTOR) -> TreeNode:
    """The tree of one plan, each node's share of the plan's own time (its cost without
    ANALYZE) and of its total time, the costliest node marked, and nodes whose estimate is
    off beyond `misestimate_factor` flagged."""
    root = _tree(as_plan(plan).root)
    nodes = list(root.walk())
    timed = all(n.self_ms is not None for n in nodes)
    weights = [(n.self_ms or 0.0) if timed else n.self_cost for n in nodes]
    total = sum(weights)
    for node, weight in zip(nodes, weights, strict=True):
        node.share = weight / total if total else 0.0
        node.misestimated = node.factor is not None and node.factor > misestimate_factor
        if root.inclusive_ms and node.inclusive_ms is not None:
            node.inclusive_share = node.inclusive_ms / root.inclusive_ms
    if total:
        nodes[weights.index(max(weights))].costliest = True
    return root


# --- timing histogram ------------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    height: float
    count: int
    low_ms: float
    high_ms: float


@dataclass(frozen=True)
class Histogram:
    """Geometry of an inline SVG histogram, in a `width` x `height` box (pixels)."""

    width: int
    height: int
    bars: list[Bar]
    low_ms: float
    high_ms: float
    markers: list[tuple[str, float, float]]  # (name, x, value in ms)
    off_chart: list[tuple[str, float]]  # marks too far right to draw: (name, value in ms)


def histogram(samples: Sequence[float], marks: Mapping[str, float | None],
              width: int = 300, height: int = 60, bins: int = 20) -> Histogram | None:
    """Bins the samples; `marks` (p50, p95, budget...) become vertical lines. A mark up to
    1.5 times the slowest sample stretches the range; one further out (a generous budget)
    is named beside the chart instead of squeezing the samples into one bar."""
    if not samples:
        return None
    low, high = min(samples), max(samples)
    given = {name: v for name, v in marks.items() if v is not None}
    drawn = {name: v for name, v in given.items() if v <= high * 1.5}
    low, high = min(low, *drawn.values()), max(high, *drawn.values())
    if math.isclose(low, high):
        low, high = low * 0.9, high * 1.1 + 1e-6
    step = (high - low) / bins
    counts = [0] * bins
    for sample in samples:
        counts[min(int((sample - low) / step), bins - 1)] += 1
    tallest = max(counts)
    scale = width / (high - low)
    bars = [
        Bar(x=round(i * step * scale, 1), width=round(step * scale - 1, 1),
            height=round(c / tallest * (height - 12), 1), count=c,
            low_ms=low + i * step, high_ms=low + (i + 1) * step)
        for i, c in enumerate(counts)
    ]
    markers = [(name, round((v - low) * scale, 1), v) for name, v in drawn.items()]
    off_chart = [(name, v) for name, v in given.items() if name not in drawn]
    return Histogram(width, height, bars, low, high, markers, off_chart)


# --- index usage -----------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexRow:
    name: str
    table: str
    definition: str
    size_bytes: int
    constraint: bool  # primary key or unique: enforces something even when no query uses it
    used_by: dict[str, list[str]]  # scenario -> plan modes that read this index
    expected_by: list[str]  # scenarios that name it as an expected index
    duplicate_of: list[str]
    redundant_with: list[str]  # longer indexes with the same leading columns

    @property
    def unused(self) -> bool:
        return not self.used_by


@dataclass(frozen=True)
class UsageMatrix:
    scenarios: list[str]
    indexes: list[IndexRow]
    known: bool  # False when the results lack index definitions (schema version 1)

    @property
    def drop_candidates(self) -> list[IndexRow]:
        return [r for r in self.indexes
                if not r.constraint and (r.unused or r.duplicate_of or r.redundant_with)]


def usage_matrix(document: Mapping[str, Any]) -> UsageMatrix:
    items = document["items"]
    scenarios = list(dict.fromkeys(i["scenario"] for i in items))
    used: dict[str, dict[str, set[str]]] = {}
    expected: dict[str, set[str]] = {}
    for item in items:
        for name in item["expected_indexes"]:
            expected.setdefault(name, set()).add(item["scenario"])
        for mode in item["modes"]:
            for name in mode.get("indexes_all", mode["indexes_used"]):
                used.setdefault(name, {}).setdefault(item["scenario"], set()).add(mode["mode"])
    indexes = document["run"].get("index_sizes", [])
    relations = duplicates_and_redundancy(indexes)
    rows = [
        IndexRow(
            name=ix["index"], table=ix["table"], definition=ix.get("definition", ""),
            size_bytes=ix["size_bytes"], constraint=enforces_constraint(ix),
            used_by={s: sorted(m) for s, m in used.get(ix["index"], {}).items()},
            expected_by=sorted(expected.get(ix["index"], ())),
            duplicate_of=relations[ix["index"]][0], redundant_with=relations[ix["index"]][1],
        )
        for ix in indexes
    ]
    return UsageMatrix(scenarios, rows, known=all(ix.get("columns") for ix in indexes))


# --- two runs, as the report shows them ------------------------------------------------------

@dataclass(frozen=True)
class EndpointBenefit:
    """The design document's "before / after" row of one endpoint, from measurements."""

    endpoint: str
    items: int
    claimed_speedup: str
    claimed_before: str
    claimed_after: str
    before_ms: float  # median over the endpoint's items of each item's p50
    after_ms: float
    speedups: list[float]  # per item
    # the speed-up is inside the noise the two runs measured (canary spread, as a ratio or
    # in milliseconds): no claim can be confirmed or refuted by it
    within_noise: bool = False

    @property
    def speedup(self) -> float:
        return self.before_ms / self.after_ms if self.after_ms else math.inf

    @property
    def speedup_range(self) -> tuple[float, float]:
        return min(self.speedups), max(self.speedups)


@dataclass(frozen=True)
class Comparison(RunComparison):
    """The verdict's comparison of two runs with what the report shows beside it."""

    benefits: list[EndpointBenefit] = field(default_factory=list)
    # per item and plan mode whose plan's nodes changed between the runs
    plan_diffs: list[ModeDiff] = field(default_factory=list)


def compare(after: Mapping[str, Any], before: Mapping[str, Any],
            claims: bool = False) -> Comparison:
    """Two runs, `before` the earlier, as harness.verdict.comparison judges them, with their
    plan diffs. With `claims` (a capacity review of a migration) the endpoints' claimed
    speed-ups are set beside the measured ones; a pull request's compare leaves them out,
    since one run of a change is no test of a design document's claims."""
    judged = judge_runs(after, before)
    claimed = after["run"].get("endpoint_claims") or before["run"].get("endpoint_claims") or {}
    return Comparison(
        before=judged.before, changes=judged.changes, only_before=judged.only_before,
        only_after=judged.only_after,
        benefits=(endpoint_benefits(judged.changes, claimed, _noise_of(after, before))
                  if claims else []),
        plan_diffs=run_plan_diffs(after, before),
    )


def _noise_of(*documents: Mapping[str, Any]) -> Noise:
    """The larger noise of the runs compared: a ratio must clear both."""
    measured = [Noise(**d["run"].get("noise") or {}) for d in documents]
    return Noise(max(n.ratio for n in measured), max(n.spread_ms for n in measured))


def _within_noise(before_ms: float, after_ms: float, noise: Noise) -> bool:
    ratio = before_ms / after_ms if after_ms else math.inf
    return (1 / noise.ratio <= ratio <= noise.ratio
            or abs(before_ms - after_ms) <= noise.spread_ms)


def claim_for(endpoint: str, claims: Mapping[str, Mapping[str, str]]) -> Mapping[str, str]:
    """A claim names an endpoint; it also covers that endpoint with a query string."""
    for claimed, claim in claims.items():
        if endpoint == claimed or endpoint.startswith(claimed + "?"):
            return claim
    return {}


def endpoint_benefits(changes: Sequence[ItemChange], claims: Mapping[str, Mapping[str, str]],
                      noise: Noise) -> list[EndpointBenefit]:
    by_endpoint: dict[str, list[ItemChange]] = {}
    for change in changes:
        if change.speedup is not None:
            key = next((c for c in claims if claim_for(change.endpoint, {c: claims[c]})),
                       change.endpoint)
            by_endpoint.setdefault(key, []).append(change)
    benefits = []
    for endpoint, group in by_endpoint.items():
        claim = claims.get(endpoint, {})
        before_ms = statistics.median(c.before_p50_ms or 0.0 for c in group)
        after_ms = statistics.median(c.after_p50_ms or 0.0 for c in group)
        benefits.append(EndpointBenefit(
            endpoint=endpoint, items=len(group),
            claimed_speedup=claim.get("speedup", ""), claimed_before=claim.get("before", ""),
            claimed_after=claim.get("after", ""), before_ms=before_ms, after_ms=after_ms,
            speedups=[c.speedup or 0.0 for c in group],
            within_noise=_within_noise(before_ms, after_ms, noise),
        ))
    # claimed endpoints first, in the document's order, then the rest by name
    order = {e: i for i, e in enumerate(claims)}
    return sorted(benefits, key=lambda b: (order.get(b.endpoint, len(order)), b.endpoint))


# --- reproducing a plan ----------------------------------------------------------------------

# A number as Python prints one; "02134" (a code, not a number) is quoted.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def sql_literal(value: str) -> str:
    """A bound value as psql reads it: numbers bare, None as NULL, anything else a string
    literal (single quotes doubled), which PostgreSQL casts to the parameter's type."""
    if _NUMBER.fullmatch(value):
        return value
    if value == "None":
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


def inline_params(sql: str, params: Mapping[str, str]) -> str:
    """The scenario's SQL with its `%(name)s` placeholders replaced by literals, runnable in
    psql; `%%` (psycopg's escaped percent sign) becomes `%`."""
    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return sql_literal(params[name]) if name in params else match.group(0)
    return _PLACEHOLDER.sub(literal, sql)


def _cost_text(node: PlanNode) -> str:
    figures = node.details
    startup = float(figures.get("Startup Cost", 0))
    text = (f"(cost={startup:.2f}..{node.total_cost:.2f}"
            f" rows={round(node.plan_rows)} width={figures.get('Plan Width', 0)})")
    if "Actual Total Time" in figures:
        text += (f" (actual time={float(figures.get('Actual Startup Time', 0)):.3f}.."
                 f"{float(figures['Actual Total Time']):.3f} "
                 f"rows={_rows(figures.get('Actual Rows', 0))} "
                 f"loops={figures.get('Actual Loops', 1)})")
    elif node.never_executed:
        text += " (never executed)"
    return text


def _rows(value: float) -> str:
    """PostgreSQL 18 prints fractional average rows per loop with two decimals."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _buffers_text(figures: Mapping[str, Any]) -> str:
    parts = []
    for kind in ("Shared", "Local", "Temp"):
        counts = [f"{what.lower()}={figures[f'{kind} {what} Blocks']}"
                  for what in ("Hit", "Read", "Dirtied", "Written")
                  if figures.get(f"{kind} {what} Blocks")]
        if counts:
            parts.append(f"{kind.lower()} {' '.join(counts)}")
    return "Buffers: " + ", ".join(parts) if parts else ""


def _explain_lines(node: PlanNode, depth: int) -> list[str]:
    # PostgreSQL's layout: a child's arrow two spaces right of its parent's text, its
    # details six spaces right of the parent's details
    pad = " " * (6 * depth - 4) + "->  " if depth else ""
    detail_pad = " " * (6 * depth + 2)
    lines = [f"{pad}{node.own_label}  {_cost_text(node)}"]
    lines += [f"{detail_pad}{key}: {text}" for key, text in _details(node)]
    if buffers := _buffers_text(node.details):
        lines.append(detail_pad + buffers)
    for child in node.children:
        lines += _explain_lines(child, depth + 1)
    return lines


def explain_text(plan: Mapping[str, Any] | Plan) -> str:
    """A plan as PostgreSQL's text format draws it, close enough to read and to paste where
    text plans are expected."""
    model = as_plan(plan)
    lines = _explain_lines(model.root, 0)
    for key, ms in (("Planning Time", model.planning_ms), ("Execution Time", model.execution_ms)):
        if ms is not None:
            lines.append(f"{key}: {ms:.3f} ms")
    return "\n".join(lines)


# --- plan diffs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeFigures:
    """One side of a plan diff's row: what a node is and what it measured."""

    label: str
    index: str
    estimated_rows: float
    actual_rows: float | None  # over all loops
    shared_buffers: int
    time_ms: float | None  # inclusive, over all loops


@dataclass(frozen=True)
class DiffRow:
    status: str  # same | changed | added | removed
    before: NodeFigures | None
    after: NodeFigures | None
    before_depth: int = 0
    after_depth: int = 0


@dataclass(frozen=True)
class PlanDiff:
    rows: list[DiffRow]

    @property
    def changed(self) -> bool:
        return any(r.status != "same" for r in self.rows)

    @property
    def headline(self) -> str:
        """The change in one line: the first node that changed, or a scan that another on
        the same table replaced elsewhere in the tree, or the first node added or removed."""
        for row in self.rows:
            if row.status == "changed" and row.before and row.after:
                return f"{row.before.label} -> {row.after.label}"
        removed = [r.before for r in self.rows if r.status == "removed" and r.before]
        added = [r.after for r in self.rows if r.status == "added" and r.after]
        for old in removed:
            new = next((a for a in added if _relation(a.label) and
                        _relation(a.label) == _relation(old.label)), None)
            if new is not None:
                return f"{old.label} -> {new.label}"
        if removed:
            return f"{removed[0].label} removed"
        return f"{added[0].label} added" if added else ""


def _relation(label: str) -> str:
    return label.rsplit(" on ", 1)[1] if " on " in label else ""


def _figures(node: PlanNode) -> NodeFigures:
    return NodeFigures(
        label=node.own_label, index=node.index or "",
        estimated_rows=node.plan_rows,
        actual_rows=node.total_actual_rows,
        shared_buffers=node.shared_buffers,
        time_ms=node.inclusive_ms,
    )


# How nodes of two plans correspond under matched parents, from strict to loose: same node
# on the same relation with the same index; another access path to the same relation; the
# same kind of node (a Sort under a Limit on both sides).
_MATCH_KEYS: tuple[Callable[[PlanNode], object], ...] = (
    lambda n: (n.node_type, n.relation, n.index),
    lambda n: n.relation,
    lambda n: n.node_type,
)


def _match(before: Sequence[PlanNode], after: Sequence[PlanNode]) -> dict[int, int]:
    """after position -> before position of the children that correspond."""
    pairs: dict[int, int] = {}
    for key in _MATCH_KEYS:
        for a, node in enumerate(after):
            wanted = key(node)
            if a in pairs or wanted is None:
                continue
            taken = set(pairs.values())
            b = next((b for b, old in enumerate(before)
                      if b not in taken and key(old) == wanted), None)
            if b is not None:
                pairs[a] = b
    return pairs


def _subtree(node: PlanNode, status: str, depth: int) -> list[DiffRow]:
    row = (DiffRow(status, None, _figures(node), after_depth=depth) if status == "added"
           else DiffRow(status, _figures(node), None, before_depth=depth))
    return [row, *(r for child in node.children for r in _subtree(child, status, depth + 1))]


def _is_wrapper(node: PlanNode) -> bool:
    """A node that reads no relation itself (Sort, Gather, Materialize, ...): inserted or
    removed, it pushes the nodes below it one level down."""
    return not node.relation and bool(node.children)


def _pair(old: PlanNode, new: PlanNode, depth_before: int, depth_after: int) -> list[DiffRow]:
    same = _MATCH_KEYS[0](old) == _MATCH_KEYS[0](new)
    row = DiffRow("same" if same else "changed", _figures(old), _figures(new),
                  depth_before, depth_after)
    return [row, *_align(old.children, new.children, depth_before + 1, depth_after + 1)]


def _align(before: Sequence[PlanNode], after: Sequence[PlanNode], depth_before: int,
           depth_after: int) -> list[DiffRow]:
    pairs = _match(before, after)
    rows = [r for a, new in enumerate(after) if a in pairs
            for r in _pair(before[pairs[a]], new, depth_before, depth_after)]
    left = [old for b, old in enumerate(before) if b not in pairs.values()]
    right = [new for a, new in enumerate(after) if a not in pairs]
    wrapper_added = next((n for n in right if _is_wrapper(n)), None) if left else None
    wrapper_removed = next((n for n in left if _is_wrapper(n)), None) if right else None
    if wrapper_added is not None:
        rows.append(DiffRow("added", None, _figures(wrapper_added), after_depth=depth_after))
        rows += _align(left, wrapper_added.children, depth_before, depth_after + 1)
        left, right = [], [n for n in right if n is not wrapper_added]
    elif wrapper_removed is not None:
        rows.append(DiffRow("removed", _figures(wrapper_removed), None, before_depth=depth_before))
        rows += _align(wrapper_removed.children, right, depth_before + 1, depth_after)
        left, right = [n for n in left if n is not wrapper_removed], []
    rows += [r for old in left for r in _subtree(old, "removed", depth_before)]
    rows += [r for new in right for r in _subtree(new, "added", depth_after)]
    return rows


def plan_diff(before: Mapping[str, Any] | Plan, after: Mapping[str, Any] | Plan) -> PlanDiff:
    """Two plans side by side: the roots correspond, and below corresponding nodes their
    children by node type, relation and index (strictest first); an inserted or removed
    wrapper (a Sort, a Gather) keeps the nodes below it matched."""
    return PlanDiff(_pair(as_plan(before).root, as_plan(after).root, 0, 0))


@dataclass(frozen=True)
class ModeDiff:
    item: str
    mode: str  # a plan mode, or "custom vs generic"
    diff: PlanDiff


def run_plan_diffs(after: Mapping[str, Any], before: Mapping[str, Any]) -> list[ModeDiff]:
    """Per item and plan mode measured in both runs, the diff where the plan's nodes
    changed."""
    before_items = {i["id"]: i for i in before["items"]}
    diffs = []
    for item in after["items"]:
        old = before_items.get(item["id"])
        old_modes = {m["mode"]: m for m in old["modes"]} if old else {}
        for mode in item["modes"]:
            then = old_modes.get(mode["mode"])
            if then is not None and then.get("plan") and mode.get("plan"):
                diff = plan_diff(then["plan"], mode["plan"])
                if diff.changed:
                    diffs.append(ModeDiff(item["id"], mode["mode"], diff))
    return diffs


def custom_generic_diff(item: Mapping[str, Any]) -> ModeDiff | None:
    """The generic plan against the custom one, when their nodes differ (also where both
    read an accepted index, which the plans_differ check lets pass)."""
    modes = {m["mode"]: m for m in item["modes"]}
    custom, generic = modes.get("custom"), modes.get("generic")
    if custom is None or generic is None:
        return None
    diff = plan_diff(custom["plan"], generic["plan"])
    return ModeDiff(item["id"], "custom vs generic", diff) if diff.changed else None


# --- causes: what broke the items, one line for all the items it broke ---------------------

# A path (absolute, or relative with a directory) names the item's file, not the cause;
# so does the case's place in it (cases[2].expect.index).
_PATH_IN_TEXT = re.compile(r"(?:~|\.{1,2})?/?(?:[\w.-]+/)+[\w.-]*(?::\s)?")
_CASE_IN_FILE = re.compile(r"\bcases\[\d+\]\.")
# A figure: rows, buffers, milliseconds, a factor (x12, 1.5x), a revision. Digits inside a
# name (ix_v2_col) are no figure; a sentence's full stop is not part of one.
_FIGURE_IN_TEXT = re.compile(r"(?<![\w.])x?-?\d[\d,]*(?:\.\d+)?x?(?!\w)")
_SLOT = "\x00"  # where a figure was, in a cause's key


def cause_key(reason: str) -> tuple[str, tuple[str, ...]]:
    """A reason without what differs between the items one cause breaks: file paths and the
    case's place go, and each figure becomes a slot. Returns the text with its slots and the
    figures that filled them, in order."""
    text = " ".join(_CASE_IN_FILE.sub("", _PATH_IN_TEXT.sub("", reason)).split())
    return _FIGURE_IN_TEXT.sub(_SLOT, text), tuple(_FIGURE_IN_TEXT.findall(text))


def _figure_value(figure: str) -> float:
    return float(figure.strip("x").replace(",", ""))


def _span(figures: Sequence[str]) -> str:
    """One slot's figures over a group: the figure when every item has the same (a policy's
    1.5x, a revision), else the lowest and highest."""
    if len(set(figures)) == 1:
        return figures[0]
    low, high = min(figures, key=_figure_value), max(figures, key=_figure_value)
    return f"{low}-{high.removeprefix('x') if low.startswith('x') else high}"


def fill_cause(key: str, figures: Sequence[Sequence[str]]) -> str:
    """A cause's text for a group: each slot the figure every item shares, or their range.
    Never a placeholder: "beyond 1.5x and +32" stays as the policy says it."""
    parts = key.split(_SLOT)
    text = parts[0]
    for slot, part in enumerate(parts[1:]):
        text += _span([f[slot] for f in figures]) + part
    return text


def reason_cause(reason: str) -> str:
    """One reason's cause, as its group would say it were it alone."""
    key, figures = cause_key(reason)
    return fill_cause(key, [figures])


# An absolute path: where a project was checked out (a CI runner's directory).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/])/(?:[^\s:;,()'\"/]+/)+")


def project_root(document: Mapping[str, Any]) -> str:
    """The absolute directory the run's messages name the project by ("" when none does): the
    prefix before an item's file, which the results keep relative to the project."""
    for item in document["items"]:
        file = item.get("file", "")
        if not file or file.startswith("/"):
            continue
        for text in [str(item.get("reason") or ""), *(str(f["message"]) for f in item["findings"])]:
            at = text.find("/" + file)
            ends_there = [m for m in _ABSOLUTE_PATH.finditer(text[:at + 1])
                          if m.end() == at + 1] if at > 0 else []
            if ends_there:
                return ends_there[-1].group(0)
    return ""


def relative_paths(text: str, root: str) -> str:
    """A message with the project's absolute directory taken out of its paths."""
    return text.replace(root, "") if root else text


@dataclass(frozen=True)
class CauseGroup:
    """Items one cause broke (or mended): `outcome` is fail or error in a run, regressed or
    improved between two; `figures` says how much ("buffers 1.8-12x")."""

    outcome: str  # fail | error | regressed | improved
    cause: str
    items: list[str]
    figures: str = ""

    @property
    def verb(self) -> str:
        return {"fail": "failed", "error": "errored"}.get(self.outcome, self.outcome)

    @property
    def headline(self) -> str:
        """The group in one line: "ix_x dropped: 9 items regressed, buffers 1.8-12x"."""
        count = f"{len(self.items)} item{'s' if len(self.items) != 1 else ''} {self.verb}"
        return f"{self.cause}: {count}" + (f", {self.figures}" if self.figures else "")


def group_by_cause(items: Iterable[Mapping[str, Any]]) -> list[CauseGroup]:
    """Failing and erroring items by the cause of their first reason, the largest group
    first (a dropped index is one line for all the items it breaks)."""
    groups: dict[tuple[str, str], list[tuple[str, tuple[str, ...]]]] = {}
    for item in items:
        if item["outcome"] in ("fail", "error"):
            key, figures = cause_key(item.get("reason") or "no reason recorded")
            groups.setdefault((item["outcome"], key), []).append((item["id"], figures))
    ordered = sorted(groups.items(), key=lambda g: (-len(g[1]), g[0][0] != "error", g[0][1]))
    return [CauseGroup(outcome, fill_cause(key, [f for _, f in members]),
                       [i for i, _ in members]) for (outcome, key), members in ordered]


# --- causes between two runs -----------------------------------------------------------------

def _definitions(document: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """Index name -> (definition without its name, valid), as the run found them."""
    return {ix["index"]: (ix.get("definition", "").replace(f" {ix['index']} ON ", " ON "),
                          ix.get("valid", True))
            for ix in document["run"].get("index_sizes", [])}


def _read_or_expected(item: Mapping[str, Any] | None) -> list[str]:
    """The indexes an item expects, then those its plans read, once each."""
    if item is None:
        return []
    read = [name for mode in item["modes"]
            for name in mode.get("indexes_all", mode["indexes_used"])]
    return list(dict.fromkeys([*item["expected_indexes"], *read]))


def _index_cause(names: Iterable[str], before: Mapping[str, tuple[str, bool]],
                 after: Mapping[str, tuple[str, bool]]) -> str:
    """What the migration did to the first of these indexes it touched: "ix dropped",
    "ix added", "ix redefined", "ix made invalid" ("" when none)."""
    for name in names:
        then, now = before.get(name), after.get(name)
        if then is not None and now is None:
            return f"{name} dropped"
        if then is None and now is not None:
            return f"{name} added"
        if then is not None and now is not None:
            if then[0] != now[0]:
                return f"{name} redefined"
            if then[1] and not now[1]:
                return f"{name} made invalid"
            if now[1] and not then[1]:
                return f"{name} made valid"
    return ""


def _new_findings(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Findings at head that say the item got worse and that the base did not have, per
    check and plan mode: failures and errors, and warnings of the checks whose new warnings
    regress (the catalogue's `new_warning_regresses`)."""
    had = {(f["mode"], f["check"]) for f in (old or {}).get("findings", [])
           if f["severity"] != Severity.INFO}
    found = []
    for finding in new["findings"]:
        check = CHECKS.get(finding["check"])
        if (finding["mode"], finding["check"]) in had or (check and check.improves):
            continue
        if finding["severity"] in (Severity.FAIL, Severity.ERROR) or (
                finding["severity"] == Severity.WARN and check and check.new_warning_regresses):
            found.append(finding)
    return found


def _change_cause(change: ItemChange, old: Mapping[str, Any] | None,
                  new: Mapping[str, Any] | None, before: Mapping[str, tuple[str, bool]],
                  after: Mapping[str, tuple[str, bool]],
                  policy: Policy) -> tuple[str, tuple[str, ...]]:
    """Why one item regressed or improved, the same words for every item the same thing
    did (as cause_key gives them): an index the migration dropped, added, redefined or
    invalidated that the item expects or read (at base when it regressed, at head when it
    improved); else an error's own reason; else the first check that newly says worse (or
    better), by its catalogue title; else the first reason as given."""
    names = _read_or_expected(old if change.regressed else new)
    names += _read_or_expected(new if change.regressed else old)
    if touched := _index_cause(names, before, after):
        return touched, ()
    if change.regressed and new is not None and new["outcome"] == "error":
        return cause_key(new.get("reason") or "error")  # the error itself: a dropped column
    if new is not None:
        said = (_new_findings(old, new) if change.regressed else
                [f for f in new["findings"] if (c := CHECKS.get(f["check"])) and c.improves])
        if said:
            return f"{said[0]['check']}: {check_title(said[0]['check'])}", ()
    if change.regressed and change.after_buffers > change.before_buffers:
        return (f"more shared buffers (beyond {policy.buffer_ratio:g}x and "
                f"+{policy.buffer_slack})", ())
    reasons = change.worse if change.regressed else change.better
    return cause_key(reasons[0]) if reasons else ("no reason recorded", ())


def _ratio_text(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def _ratio_range(pairs: Iterable[tuple[float | None, float | None]], noun: str,
                 worse: bool) -> str:
    """Head against base over a group's items: "buffers 1.8-12x" when every item grew,
    "buffers 3-20x fewer" when every item shrank; "" when a side is unknown or the items
    moved either way (a latency judged with the machine's noise divided out can improve
    while its raw median did not)."""
    ratios = [after / before for before, after in pairs if before and after]
    if not ratios or not all(r > 1.05 if worse else r < 0.95 for r in ratios):
        return ""
    shown = ratios if worse else [1 / r for r in ratios]
    low, high = _ratio_text(min(shown)), _ratio_text(max(shown))
    return f"{noun} {low if low == high else f'{low}-{high}'}x" + ("" if worse else " fewer")


@dataclass(frozen=True)
class Moved:
    """One figure of an item at base and at head, in the plan mode where it moved most."""

    mode: str
    before: float
    after: float

    @property
    def ratio(self) -> float:
        return self.after / self.before


def moved_most(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, key: str,
               worse: bool) -> Moved | None:
    """`key` (shared_buffers, p50_ms) at base and at head in the plan mode that moved most:
    up for a regression, down for an improvement; None when no mode has both."""
    if old is None or new is None:
        return None
    then = {m["mode"]: m.get(key) for m in old["modes"]}
    moves = [Moved(m["mode"], then[m["mode"]], m[key]) for m in new["modes"]
             if then.get(m["mode"]) and m.get(key)]
    if not moves:
        return None
    return (max if worse else min)(moves, key=lambda moved: moved.ratio)


def change_causes(comparison: RunComparison, after: Mapping[str, Any]) -> list[CauseGroup]:
    """The regressed items by cause, then the improved ones, the largest group first within
    each: a dropped index is one line for the nine items it broke."""
    old_items = {i["id"]: i for i in comparison.before["items"]}
    new_items = {i["id"]: i for i in after["items"]}
    before, now = _definitions(comparison.before), _definitions(after)
    policy = Policy(**after["run"].get("policy") or {})
    groups: dict[tuple[str, str], list[tuple[ItemChange, tuple[str, ...]]]] = {}
    for change in comparison.changes:
        if change.regressed or change.improved:
            outcome = "regressed" if change.regressed else "improved"
            key, figures = _change_cause(change, old_items.get(change.id),
                                         new_items.get(change.id), before, now, policy)
            groups.setdefault((outcome, key), []).append((change, figures))
    ordered = sorted(groups.items(), key=lambda g: (g[0][0] != "regressed", -len(g[1]),
                                                    g[0][1]))
    result = []
    if comparison.only_before:
        result.append(CauseGroup("regressed", "missing at head (it ran at base)",
                                 list(comparison.only_before)))
    for (outcome, key), members in ordered:
        changes = [c for c, _ in members]
        how_much = ""
        for figure, noun in (("shared_buffers", "buffers"), ("p50_ms", "p50")):
            moves = [moved_most(old_items.get(c.id), new_items.get(c.id), figure,
                                outcome == "regressed") for c in changes]
            how_much = how_much or _ratio_range(
                ((m.before, m.after) if m else (None, None) for m in moves), noun,
                outcome == "regressed")
        result.append(CauseGroup(outcome, fill_cause(key, [f for _, f in members]),
                                 [c.id for c in changes], how_much))
    return sorted(result, key=lambda g: (g.outcome != "regressed", -len(g.items)))


@dataclass(frozen=True)
class NewWarning:
    """A warning at head that the base did not have, for this item, check and plan mode."""

    item: str
    check: str
    mode: str | None
    message: str
    regresses: bool  # the catalogue's new_warning_regresses: compare counts it


def new_warnings(comparison: RunComparison, after: Mapping[str, Any]) -> list[NewWarning]:
    """Warnings new against the base, per item, check and plan mode (a warning or failure
    of that check in that mode at base is not new); an item missing at base has none."""
    old_items = {i["id"]: i for i in comparison.before["items"]}
    found = []
    for item in after["items"]:
        old = old_items.get(item["id"])
        if old is None:
            continue
        had = {(f["mode"], f["check"]) for f in old["findings"]
               if f["severity"] in (Severity.WARN, Severity.FAIL, Severity.ERROR)}
        for finding in item["findings"]:
            if finding["severity"] == Severity.WARN and (finding["mode"],
                                                         finding["check"]) not in had:
                check = CHECKS.get(finding["check"])
                found.append(NewWarning(item["id"], finding["check"], finding["mode"],
                                        finding["message"],
                                        bool(check and check.new_warning_regresses)))
    return found


def warning_counts(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per check, how many items warn of it, most first."""
    counts: dict[str, int] = {}
    for item in items:
        if item["outcome"] == "warn":
            for check in dict.fromkeys(f["check"] for f in item["findings"]
                                       if f["severity"] == Severity.WARN):
                counts[check] = counts.get(check, 0) + 1
    return dict(sorted(counts.items(), key=lambda c: (-c[1], c[0])))
