"""Capacity: index sizes measured on the run's database, bytes per row, and a linear
projection to a target scale beside what a design document claims."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from harness.project import Projection

_SIZES = """
SELECT ix.relname, tbl.relname, pg_relation_size(ix.oid), greatest(tbl.reltuples, 0)
FROM pg_index i
JOIN pg_class ix ON ix.oid = i.indexrelid
JOIN pg_class tbl ON tbl.oid = i.indrelid
WHERE tbl.relnamespace = 'public'::regnamespace AND tbl.relname <> 'alembic_version'
ORDER BY tbl.relname, ix.relname
"""


@dataclass(frozen=True)
class IndexSize:
    index: str
    table: str
    size_bytes: int
    table_rows: int
    bytes_per_row: float | None
    projected_rows: int | None
    projected_bytes: int | None  # bytes_per_row x projected_rows (linear)
    claimed_bytes_per_row: float | None
    claimed_total: str | None


def index_sizes(conn: psycopg.Connection[Any], projection: Projection) -> list[IndexSize]:
    sizes = []
    for index, table, size, rows in conn.execute(_SIZES).fetchall():
        per_row = size / rows if rows else None
        target = projection.rows.get(table)
        claim = projection.claims.get(index)
        sizes.append(IndexSize(
            index=index, table=table, size_bytes=int(size), table_rows=int(rows),
            bytes_per_row=round(per_row, 2) if per_row is not None else None,
            projected_rows=target,
            projected_bytes=round(per_row * target) if per_row is not None and target else None,
            claimed_bytes_per_row=claim.bytes_per_row if claim else None,
            claimed_total=claim.total if claim else None,
        ))
    return sizes
