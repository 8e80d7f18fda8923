"""Placement: a sharded cluster's rows and sizes, read from its shards (the coordinator's
tables are empty shells), and where they sit: the busiest worker's share and the largest
shard, which capacity figures on a cluster are about (not the total divided by the nodes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from harness.measure import citus
from harness.measure.capacity import IndexSize, TableSize
from harness.measure.catalog import Catalog
from harness.project.manifest import Projection
from harness.server.providers import ShardPlacement


@dataclass(frozen=True)
class TablePlacement:
    """One distributed table over the cluster."""

    table: str
    rows: int
    shards: int
    empty_shards: int
    size_bytes: int
    busiest_node: str
    busiest_share: float  # of the table's bytes, on the node that holds most of them
    largest_shard: int
    largest_shard_rows: int
    largest_shard_bytes: int


def table_rows(shards: Sequence[ShardPlacement]) -> dict[str, float]:
    rows: dict[str, float] = {}
    for shard in shards:
        rows[shard.table] = rows.get(shard.table, 0.0) + shard.rows
    return rows


def cluster_catalog(catalog: Catalog, shards: Sequence[ShardPlacement]) -> Catalog:
    """The catalog with each table's rows summed over its shards; the plan reader told each
    shard's rows (a task on an empty shard is read as the empty table it is) and the
    indexes' full names (a shard's name of a long one is cut and hashed)."""
    citus.know(shard_rows={s.shard_id: s.rows for s in shards}, names=catalog.indexes)
    return replace(catalog, table_rows={**catalog.table_rows, **table_rows(shards)})


def placements(shards: Sequence[ShardPlacement]) -> list[TablePlacement]:
    by_table: dict[str, list[ShardPlacement]] = {}
    for shard in shards:
        by_table.setdefault(shard.table, []).append(shard)
    found = []
    for table, pieces in sorted(by_table.items()):
        per_node: dict[str, int] = {}
        for piece in pieces:
            per_node[piece.node] = per_node.get(piece.node, 0) + piece.size_bytes
        total = sum(per_node.values())
        busiest = max(per_node, key=lambda node: per_node[node])
        largest = max(pieces, key=lambda p: (p.size_bytes, p.rows))
        found.append(TablePlacement(
            table=table, rows=sum(p.rows for p in pieces), shards=len(pieces),
            empty_shards=sum(1 for p in pieces if p.rows == 0), size_bytes=total,
            busiest_node=busiest,
            busiest_share=round(per_node[busiest] / total, 3) if total else 0.0,
            largest_shard=largest.shard_id, largest_shard_rows=largest.rows,
            largest_shard_bytes=largest.size_bytes))
    return found


def cluster_sizes(indexes: Sequence[IndexSize], tables: Sequence[TableSize],
                  shards: Sequence[ShardPlacement], projection: Projection
                  ) -> tuple[list[IndexSize], list[TableSize], dict[str, Any]]:
    """Sizes (already summed over shards by the provider's size functions) with the rows
    of the shards, so bytes per row and projections mean what they do on one node; and the
    placement of each table."""
    rows = table_rows(shards)
    sized_indexes = []
    for index in indexes:
        count = int(rows.get(index.table, index.table_rows))
        per_row = index.size_bytes / count if count else None
        target = projection.rows.get(index.table)
        sized_indexes.append(replace(
            index, table_rows=count,
            bytes_per_row=round(per_row, 2) if per_row is not None else None,
            projected_bytes=round(per_row * target) if per_row is not None and target else None))
    sized_tables = []
    for table in tables:
        count = int(rows.get(table.table, table.rows))
        target = projection.rows.get(table.table)
        whole = table.table_bytes + table.indexes_bytes
        sized_tables.append(replace(
            table, rows=count,
            bytes_per_row=round(table.table_bytes / count, 2) if count else None,
            projected_bytes=round(whole / count * target) if count and target else None))
    placed = placements(shards)
    return sized_indexes, sized_tables, {
        "nodes": len({s.node for s in shards}),
        "tables": [asdict(p) for p in placed]}
