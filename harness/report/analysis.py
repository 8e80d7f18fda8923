"""What the report shows beyond the raw results: plan trees with their costliest node, timing
histograms, the index usage matrix with duplicate and redundant indexes, and the comparison
of two runs. Pure functions of results documents: no database, no HTML."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.capacity import duplicates_and_redundancy, enforces_constraint
from harness.gate import (
    Outcome,
    Policy,
    buffers_grew,
    buffers_shrank,
)

# Node fields worth a line under the node, in the order people read them.
_NODE_DETAILS = (
    "Index Cond", "Recheck Cond", "Filter", "Rows Removed by Filter", "Join Filter",
    "Hash Cond", "Merge Cond", "Sort Key", "Sort Method", "Presorted Key", "Group Key",
    "Strategy", "Heap Fetches", "Workers Planned", "Workers Launched",
)


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
    share: float = 0.0  # of the plan's total self time (or cost, without ANALYZE)
    costliest: bool = False
    children: list[TreeNode] = field(default_factory=list)

    def walk(self) -> Iterable[TreeNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def _label(node: Mapping[str, Any]) -> str:
    text = str(node.get("Node Type", "?"))
    if node.get("Index Name") and text != "Bitmap Index Scan":
        text += f" using {node['Index Name']}"
    if node.get("Relation Name"):
        text += f" on {node['Relation Name']}"
    elif node.get("Index Name"):
        text += f" on {node['Index Name']}"
    return text


def _tree(node: Mapping[str, Any]) -> TreeNode:
    children = [_tree(child) for child in node.get("Plans", ())]
    loops = int(node.get("Actual Loops", 1) or 1)
    total_ms = node.get("Actual Total Time")
    inclusive = None if total_ms is None else float(total_ms) * loops
    below = sum(_inclusive_ms(child) for child in node.get("Plans", ()))
    cost = float(node.get("Total Cost", 0.0))
    below_cost = sum(float(child.get("Total Cost", 0.0)) for child in node.get("Plans", ()))
    actual = node.get("Actual Rows")
    details = [(key, _detail(node[key])) for key in _NODE_DETAILS if key in node]
    return TreeNode(
        label=_label(node),
        details=details,
        estimated_rows=float(node.get("Plan Rows", 0)),
        actual_rows=None if actual is None else float(actual) * loops,
        loops=loops,
        # parallel workers and InitPlans can make children look longer than the parent
        self_ms=None if inclusive is None else max(inclusive - below, 0.0),
        self_cost=max(cost - below_cost, 0.0),
        shared_buffers=int(node.get("Shared Hit Blocks", 0))
        + int(node.get("Shared Read Blocks", 0)),
        children=children,
    )


def _inclusive_ms(node: Mapping[str, Any]) -> float:
    loops = int(node.get("Actual Loops", 1) or 1)
    return float(node.get("Actual Total Time", 0.0) or 0.0) * loops


def _detail(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def plan_tree(plan: Mapping[str, Any]) -> TreeNode:
    """The tree of one EXPLAIN (FORMAT JSON) object, each node's share of the plan's own time
    (its cost without ANALYZE), and the costliest node marked."""
    root = _tree(plan["Plan"])
    nodes = list(root.walk())
    timed = all(n.self_ms is not None for n in nodes)
    weights = [(n.self_ms or 0.0) if timed else n.self_cost for n in nodes]
    total = sum(weights)
    for node, weight in zip(nodes, weights, strict=True):
        node.share = weight / total if total else 0.0
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


# --- comparing two runs ----------------------------------------------------------------------

@dataclass(frozen=True)
class ItemChange:
    """One item in two runs, and why it got worse or better (empty when neither)."""

    id: str
    endpoint: str
    before_outcome: str
    after_outcome: str
    before_access: str
    after_access: str
    before_p50_ms: float | None
    after_p50_ms: float | None
    before_buffers: int
    after_buffers: int
    worse: tuple[str, ...] = ()
    better: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        return bool(self.worse)

    @property
    def improved(self) -> bool:
        return bool(self.better) and not self.worse

    @property
    def plan_changed(self) -> bool:
        return self.before_access != self.after_access

    @property
    def speedup(self) -> float | None:
        if self.before_p50_ms is None or not self.after_p50_ms:
            return None
        return self.before_p50_ms / self.after_p50_ms


def item_change(old: Mapping[str, Any], new: Mapping[str, Any], policy: Policy) -> ItemChange:
    """An item that ran in both runs: worse when its outcome got worse (an error at head
    included), when a plan left its accepted index, when a plan mode reads more shared
    buffers beyond the tolerance (whatever index it uses), or when the head run found it
    slower than the base beyond the noise; better on the reverse."""
    first_old, first_new = _first_mode(old), _first_mode(new)
    worse, better = _outcome_moves(old, new)
    before_modes = {m["mode"]: m for m in old["modes"]}
    for mode in new["modes"]:
        then = before_modes.get(mode["mode"])
        if then is not None:
            _mode_moves(then, mode, policy, worse, better)
    _latency_moves(new, worse, better)
    worse += _left_accepted_index(old, new)
    return ItemChange(
        id=new["id"], endpoint=new["endpoint"],
        before_outcome=old["outcome"], after_outcome=new["outcome"],
        before_access=first_old.get("access", ""), after_access=first_new.get("access", ""),
        before_p50_ms=first_old.get("p50_ms"), after_p50_ms=first_new.get("p50_ms"),
        before_buffers=first_old.get("shared_buffers", 0),
        after_buffers=first_new.get("shared_buffers", 0),
        worse=tuple(worse), better=tuple(better),
    )


def _outcome_moves(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    before, after = Outcome.of(old["outcome"]), Outcome.of(new["outcome"])
    move = f"{before.label} -> {after.label}"
    if after > before:
        return [f"{move}: {new.get('reason') or 'see the report'}"], []
    if after < before:
        return [], [move]
    return [], []


def _mode_moves(then: Mapping[str, Any], now: Mapping[str, Any], policy: Policy,
                worse: list[str], better: list[str]) -> None:
    mode = now["mode"]
    old_buffers, new_buffers = then["shared_buffers"], now["shared_buffers"]
    measured = now.get("actual_rows") is not None and then.get("actual_rows") is not None
    figures = f"{mode}: {old_buffers:,} -> {new_buffers:,} shared buffers"
    if measured and buffers_grew(old_buffers, new_buffers, policy):
        worse.append(f"{figures} (beyond {policy.buffer_ratio:g}x and +{policy.buffer_slack})")
    elif measured and buffers_shrank(old_buffers, new_buffers, policy):
        better.append(figures)


def _latency_moves(new: Mapping[str, Any], worse: list[str], better: list[str]) -> None:
    """Latency as the head run judged it against the base in the same process (noise
    canary, measured again when it looked slower). Two runs of different processes, as
    `plan-harness report --compare` gets them, are not compared on latency: their timings
    are of different moments on a possibly shared machine."""
    for finding in new["findings"]:
        if finding["check"] == "latency_slower" and finding["severity"] == "fail":
            worse.append(finding["message"])
        elif finding["check"] == "latency_faster":
            better.append(finding["message"])


def _left_accepted_index(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """A plan mode that used an accepted index at base and does not at head, when the
    outcome alone does not show it (the item failed at base for another reason)."""
    if Outcome.of(new["outcome"]) > Outcome.of(old["outcome"]):
        return []
    before = {(f["mode"], f["check"]) for f in old["findings"] if f["severity"] == "fail"}
    return [f"{f['message']}" for f in new["findings"]
            if f["severity"] == "fail" and f["check"] == "index"
            and (f["mode"], "index") not in before]


@dataclass(frozen=True)
class EndpointBenefit:
    """The seed-style "before / after" row of one endpoint, from measurements."""

    endpoint: str
    items: int
    claimed_speedup: str
    claimed_before: str
    claimed_after: str
    before_ms: float  # median over the endpoint's items of each item's p50
    after_ms: float
    speedups: list[float]  # per item

    @property
    def speedup(self) -> float:
        return self.before_ms / self.after_ms if self.after_ms else math.inf

    @property
    def speedup_range(self) -> tuple[float, float]:
        return min(self.speedups), max(self.speedups)


@dataclass(frozen=True)
class Comparison:
    before: Mapping[str, Any]
    changes: list[ItemChange]
    only_before: list[str]  # ran at base, missing at head: each a regression
    only_after: list[str]
    benefits: list[EndpointBenefit]

    @property
    def regressions(self) -> list[ItemChange]:
        return [c for c in self.changes if c.regressed]

    @property
    def improvements(self) -> list[ItemChange]:
        return [c for c in self.changes if c.improved]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.only_before)

    @property
    def broken_everywhere(self) -> list[str]:
        """Items that error in both runs: the scenario or the project is broken, not the
        change under review."""
        return [c.id for c in self.changes
                if c.before_outcome == "error" and c.after_outcome == "error"]


def _first_mode(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The mode compared across runs: custom when measured (what most drivers get first)."""
    modes = item["modes"]
    return next((m for m in modes if m["mode"] == "custom"), modes[0]) if modes else {}


def compare(after: Mapping[str, Any], before: Mapping[str, Any]) -> Comparison:
    before_items = {i["id"]: i for i in before["items"]}
    after_items = {i["id"]: i for i in after["items"]}
    policy = Policy(**after["run"].get("policy") or {})
    changes = [item_change(before_items[item_id], item, policy)
               for item_id, item in after_items.items() if item_id in before_items]
    claims = after["run"].get("endpoint_claims") or before["run"].get("endpoint_claims") or {}
    return Comparison(
        before=before,
        changes=changes,
        only_before=sorted(set(before_items) - set(after_items)),
        only_after=sorted(set(after_items) - set(before_items)),
        benefits=endpoint_benefits(changes, claims),
    )


def claim_for(endpoint: str, claims: Mapping[str, Mapping[str, str]]) -> Mapping[str, str]:
    """A claim names an endpoint; it also covers that endpoint with a query string."""
    for claimed, claim in claims.items():
        if endpoint == claimed or endpoint.startswith(claimed + "?"):
            return claim
    return {}


def endpoint_benefits(changes: Sequence[ItemChange],
                      claims: Mapping[str, Mapping[str, str]]) -> list[EndpointBenefit]:
    by_endpoint: dict[str, list[ItemChange]] = {}
    for change in changes:
        if change.speedup is not None:
            key = next((c for c in claims if claim_for(change.endpoint, {c: claims[c]})),
                       change.endpoint)
            by_endpoint.setdefault(key, []).append(change)
    benefits = []
    for endpoint, group in by_endpoint.items():
        claim = claims.get(endpoint, {})
        benefits.append(EndpointBenefit(
            endpoint=endpoint, items=len(group),
            claimed_speedup=claim.get("speedup", ""), claimed_before=claim.get("before", ""),
            claimed_after=claim.get("after", ""),
            before_ms=statistics.median(c.before_p50_ms or 0.0 for c in group),
            after_ms=statistics.median(c.after_p50_ms or 0.0 for c in group),
            speedups=[c.speedup or 0.0 for c in group],
        ))
    # claimed endpoints first, in the document's order, then the rest by name
    order = {e: i for i, e in enumerate(claims)}
    return sorted(benefits, key=lambda b: (order.get(b.endpoint, len(order)), b.endpoint))
