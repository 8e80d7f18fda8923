"""Plans: the tree model of one EXPLAIN (FORMAT JSON) result."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import PlanError

# Scan nodes that read a table through an index, with the index named on the node itself.
INDEX_SCANS = frozenset({"Index Scan", "Index Only Scan"})
BITMAP_HEAP_SCAN = "Bitmap Heap Scan"
BITMAP_INDEX_SCAN = "Bitmap Index Scan"
# The key an expander sets on a node it makes for work done elsewhere (a worker's part of a
# distributed plan): its buffers are in no figure of its parent's, so the plan adds them.
EXECUTED_APART = "Executed Apart"

# The plan nodes one node of EXPLAIN's JSON holds below it. PostgreSQL nests them in
# "Plans"; an extension's custom scan may carry whole plans elsewhere (Citus: its workers'
# plans in "Distributed Query"), which its provider opens with an expander of its own.
NodeExpander = Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]]


def plans_below(node: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """PostgreSQL's own children of a node."""
    children = node.get("Plans", ())
    if not isinstance(children, list | tuple):
        raise PlanError(f"EXPLAIN output: {node.get('Node Type')} node: 'Plans' is not a list")
    return children


# Process-wide, so that plans read anywhere (the run, a re-rendered report) open alike;
# Plan.from_explain(expanders=...) chooses for one plan.
_EXPANDERS: list[NodeExpander] = [plans_below]


def register_node_expander(expander: NodeExpander) -> NodeExpander:
    """Every plan read from now on also opens the nodes `expander` opens (a provider calls
    this once, at import). Returns the expander, so it can decorate one."""
    if expander not in _EXPANDERS:
        _EXPANDERS.append(expander)
    return expander


def unregister_node_expander(expander: NodeExpander) -> None:
    if expander is not plans_below and expander in _EXPANDERS:
        _EXPANDERS.remove(expander)


def node_expanders() -> tuple[NodeExpander, ...]:
    return tuple(_EXPANDERS)


@dataclass(frozen=True)
class PlanNode:
    """One node of a plan tree, with the fields the checks and reports read."""

    node_type: str
    relation: str | None
    index: str | None
    plan_rows: float
    total_cost: float
    actual_rows: float | None  # per loop, as PostgreSQL reports it; None without ANALYZE
    loops: int
    actual_total_ms: float | None
    shared_hit: int
    shared_read: int
    children: tuple[PlanNode, ...] = ()
    # the node's own JSON fields (its children's left out), for the report's details
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_json(cls, node: Any, expanders: Sequence[NodeExpander] | None = None,
                  above: tuple[str, ...] = ()) -> PlanNode:
        """The tree below an EXPLAIN (FORMAT JSON) node, opened by `expanders` (by default
        the registered ones). A malformed node is a PlanError naming where it is."""
        opened = node_expanders() if expanders is None else tuple(expanders)
        if not isinstance(node, Mapping) or not isinstance(node.get("Node Type"), str):
            raise PlanError(f"EXPLAIN output: {_where(above)} is not a plan node with a "
                            f"'Node Type': {_excerpt(node)}")
        path = (*above, str(node["Node Type"]))
        try:
            own = cls._own_fields(node)
            below = [child for expand in opened for child in expand(node)]
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # an expander's own slip too: the item errors with where, never a traceback
            raise PlanError(f"EXPLAIN output: the node {' > '.join(path)}: "
                            f"{_one_line(str(exc))}") from None
        children = tuple(cls.from_json(child, opened, path) for child in below)
        apart = [c for c in children if c.details.get(EXECUTED_APART)]
        if apart and not own["plan_rows"]:
            # a node that gathers parts executed apart (a Citus scan, estimated 0) expects
            # the rows they expect
            own["plan_rows"] = sum(c.plan_rows for c in apart)
        return cls(**own, children=children)

    @staticmethod
    def _own_fields(node: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "node_type": str(node["Node Type"]),
            "relation": node.get("Relation Name"),
            "index": node.get("Index Name"),
            "plan_rows": float(node.get("Plan Rows", 0)),
            "total_cost": float(node.get("Total Cost", 0.0)),
            "actual_rows": _float_or_none(node.get("Actual Rows")),
            "loops": int(node.get("Actual Loops", 1) or 1),
            "actual_total_ms": _float_or_none(node.get("Actual Total Time")),
            "shared_hit": int(node.get("Shared Hit Blocks", 0)),
            "shared_read": int(node.get("Shared Read Blocks", 0)),
            "details": {k: v for k, v in node.items() if k != "Plans"},
        }

    def walk(self) -> Iterator[PlanNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def own_label(self) -> str:
        """`Index Scan using ix on orders`, as PostgreSQL's text format names the node."""
        text = self.node_type
        if self.index and self.node_type != BITMAP_INDEX_SCAN:
            text += f" using {self.index}"
        if self.relation:
            text += f" on {self.relation}"
        elif self.index:
            text += f" on {self.index}"
        return text

    @property
    def label(self) -> str:
        """The node the way people read plans: a Bitmap Heap Scan names the indexes below."""
        text = self.own_label
        if self.node_type == BITMAP_HEAP_SCAN:
            below = sorted({n.index for n in self.walk() if n.index})
            text += f" ({', '.join(below)})" if below else ""
        return text

    @property
    def total_actual_rows(self) -> float | None:
        return None if self.actual_rows is None else self.actual_rows * self.loops

    @property
    def inclusive_ms(self) -> float | None:
        """This node and everything below it, over all loops; None without ANALYZE."""
        return None if self.actual_total_ms is None else self.actual_total_ms * self.loops

    @property
    def shared_buffers(self) -> int:
        return self.shared_hit + self.shared_read

    @property
    def never_executed(self) -> bool:
        """EXPLAIN ANALYZE ran the plan without ever reaching this node (0 loops)."""
        return self.details.get("Actual Loops") == 0

    @property
    def merges_parts(self) -> bool:
        """The node orders or cuts the rows of parts executed apart (the coordinator's Sort
        over a Citus fan-out): each part ran a plan of its own, judged on its own; merging
        them is no access path an index could spare."""
        return any(grand.details.get(EXECUTED_APART)
                   for child in self.children for grand in child.children)

    def indexes_reading(self, table: str) -> set[str]:
        """Indexes this node uses to read `table` (a Bitmap Heap Scan's come from below)."""
        if self.relation != table:
            return set()
        if self.node_type in INDEX_SCANS and self.index:
            return {self.index}
        if self.node_type == BITMAP_HEAP_SCAN:
            return {n.index for n in self.walk() if n.node_type == BITMAP_INDEX_SCAN and n.index}
        return set()


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _where(above: Sequence[str]) -> str:
    return "the plan's root" if not above else "a node under " + " > ".join(above)


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _excerpt(value: Any) -> str:
    return _one_line(json.dumps(value, default=str), 80)


@dataclass(frozen=True)
class Plan:
    """A whole EXPLAIN result: the root node plus the run-level figures."""

    root: PlanNode
    planning_ms: float | None
    execution_ms: float | None
    settings: Mapping[str, str]
    raw: Mapping[str, Any] = field(compare=False, hash=False)

    @classmethod
    def from_explain(cls, document: Any,
                     expanders: Sequence[NodeExpander] | None = None) -> Plan:
        """Accepts what `EXPLAIN (FORMAT JSON)` returns: a one-element list of objects, or
        its text. Anything else is a PlanError of one line saying what was wrong."""
        top = _top_object(_decoded(document))
        root = PlanNode.from_json(top["Plan"], expanders)
        try:
            return cls(root=root, planning_ms=_float_or_none(top.get("Planning Time")),
                       execution_ms=_float_or_none(top.get("Execution Time")),
                       settings=dict(top.get("Settings", {})), raw=top)
        except (TypeError, ValueError) as exc:
            raise PlanError(f"EXPLAIN output: {_one_line(str(exc))}") from None

    def nodes(self) -> Iterator[PlanNode]:
        return self.root.walk()

    def indexes_on(self, table: str) -> set[str]:
        found: set[str] = set()
        for node in self.nodes():
            found |= node.indexes_reading(table)
        return found

    def indexes_used(self) -> set[str]:
        """Every index the plan reads, on any table."""
        return {n.index for n in self.nodes() if n.index}

    def scans_of(self, table: str) -> list[PlanNode]:
        """The nodes that read `table` itself (not bitmap index scans under them)."""
        return [n for n in self.nodes() if n.relation == table]

    @property
    def shared_buffers(self) -> int:
        """Shared blocks hit or read by the whole execution: the root counts its subtree,
        and parts executed apart (a distributed plan's tasks) count their own."""
        return self.root.shared_buffers + sum(
            n.shared_buffers for n in self.nodes() if n.details.get(EXECUTED_APART))

    def shape(self) -> tuple[str, ...]:
        """The plan's shape without costs or timings, to tell whether two plans are the same."""
        return tuple(node.label for node in self.nodes())

    def access_summary(self, table: str) -> str:
        scans = self.scans_of(table)
        return ", ".join(n.label for n in scans) if scans else f"no scan of {table}"


def _decoded(document: Any) -> Any:
    if not isinstance(document, str | bytes):
        return document
    try:
        return json.loads(document)
    except json.JSONDecodeError as exc:
        raise PlanError(f"EXPLAIN output is not JSON: {exc.msg} at line {exc.lineno}, column "
                        f"{exc.colno} ({_one_line(str(document[:60]))})") from None
    except UnicodeDecodeError as exc:
        raise PlanError(f"EXPLAIN output is not JSON: {exc.reason}") from None


def _top_object(document: Any) -> Mapping[str, Any]:
    top = document[0] if isinstance(document, list) and document else document
    if not isinstance(top, Mapping) or "Plan" not in top:
        raise PlanError(f"EXPLAIN output is not an EXPLAIN (FORMAT JSON) document: no 'Plan' "
                        f"key in {_excerpt(document)}")
    return top
