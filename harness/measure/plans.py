"""Plans: the tree model of one EXPLAIN (FORMAT JSON) result."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# Scan nodes that read a table through an index, with the index named on the node itself.
INDEX_SCANS = frozenset({"Index Scan", "Index Only Scan"})
BITMAP_HEAP_SCAN = "Bitmap Heap Scan"
BITMAP_INDEX_SCAN = "Bitmap Index Scan"


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
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_json(cls, node: Mapping[str, Any]) -> PlanNode:
        children = tuple(cls.from_json(child) for child in node.get("Plans", ()))
        return cls(
            node_type=str(node["Node Type"]),
            relation=node.get("Relation Name"),
            index=node.get("Index Name"),
            plan_rows=float(node.get("Plan Rows", 0)),
            total_cost=float(node.get("Total Cost", 0.0)),
            actual_rows=_float_or_none(node.get("Actual Rows")),
            loops=int(node.get("Actual Loops", 1) or 1),
            actual_total_ms=_float_or_none(node.get("Actual Total Time")),
            shared_hit=int(node.get("Shared Hit Blocks", 0)),
            shared_read=int(node.get("Shared Read Blocks", 0)),
            children=children,
            details={k: v for k, v in node.items() if k != "Plans"},
        )

    def walk(self) -> Iterator[PlanNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def label(self) -> str:
        """`Index Scan using ix on orders`, the way people read plans."""
        text = self.node_type
        if self.index and self.node_type != BITMAP_INDEX_SCAN:
            text += f" using {self.index}"
        if self.relation:
            text += f" on {self.relation}"
        elif self.index:
            text += f" on {self.index}"
        if self.node_type == BITMAP_HEAP_SCAN:
            below = sorted({n.index for n in self.walk() if n.index})
            text += f" ({', '.join(below)})" if below else ""
        return text

    @property
    def total_actual_rows(self) -> float | None:
        return None if self.actual_rows is None else self.actual_rows * self.loops

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


@dataclass(frozen=True)
class Plan:
    """A whole EXPLAIN result: the root node plus the run-level figures."""

    root: PlanNode
    planning_ms: float | None
    execution_ms: float | None
    settings: Mapping[str, str]
    raw: Mapping[str, Any] = field(compare=False, hash=False)

    @classmethod
    def from_explain(cls, document: Any) -> Plan:
        """Accepts what `EXPLAIN (FORMAT JSON)` returns: a one-element list of objects."""
        top = document[0] if isinstance(document, list) else document
        if not isinstance(top, Mapping) or "Plan" not in top:
            raise ValueError("not an EXPLAIN (FORMAT JSON) document: no 'Plan' key")
        return cls(
            root=PlanNode.from_json(top["Plan"]),
            planning_ms=_float_or_none(top.get("Planning Time")),
            execution_ms=_float_or_none(top.get("Execution Time")),
            settings=dict(top.get("Settings", {})),
            raw=top,
        )

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
        """Shared blocks hit or read by the whole execution (the root counts its subtree)."""
        return self.root.shared_hit + self.root.shared_read

    def shape(self) -> tuple[str, ...]:
        """The plan's shape without costs or timings, to tell whether two plans are the same."""
        return tuple(node.label for node in self.nodes())

    def access_summary(self, table: str) -> str:
        scans = self.scans_of(table)
        return ", ".join(n.label for n in scans) if scans else f"no scan of {table}"
