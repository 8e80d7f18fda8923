"""Capacity: table and index sizes measured on the run's database, bytes per row, and a
linear projection to a target scale beside what a design document claims. Index definitions
(key columns, method, predicate) come along so reports can tell duplicates and redundancy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from harness.project.manifest import Projection
from harness.server.providers import LOCAL_SIZES, SizeFunctions

# Alembic's bookkeeping table is the harness's, not the schema under test's.
_USER_TABLES = "{0}.relnamespace = 'public'::regnamespace AND {0}.relname <> 'alembic_version'"

_INDEXES = f"""
SELECT ix.relname, tbl.relname, {{relation}}(ix.oid), greatest(tbl.reltuples, 0),
       am.amname, i.indisunique, i.indisprimary, i.indisvalid,
       pg_get_expr(i.indpred, i.indrelid),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k),
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(i.indnkeyatts + 1, i.indnatts) AS k ORDER BY k),
       pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ix ON ix.oid = i.indexrelid
JOIN pg_class tbl ON tbl.oid = i.indrelid
JOIN pg_am am ON am.oid = ix.relam
WHERE {_USER_TABLES.format('tbl')}
ORDER BY tbl.relname, ix.relname
"""

_TABLES = f"""
SELECT c.relname, greatest(c.reltuples, 0), {{relation}}(c.oid), {{table}}(c.oid),
       {{indexes}}(c.oid)
FROM pg_class c
WHERE c.relkind IN ('r', 'p') AND {_USER_TABLES.format('c')}
ORDER BY c.relname
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
    method: str = ""
    unique: bool = False
    primary: bool = False
    valid: bool = True
    predicate: str | None = None
    columns: tuple[str, ...] = ()  # key columns or expressions, in order
    include: tuple[str, ...] = ()  # INCLUDE columns
    definition: str = ""


@dataclass(frozen=True)
class TableSize:
    table: str
    rows: int
    heap_bytes: int  # the main fork only
    table_bytes: int  # with TOAST, free space and visibility maps
    indexes_bytes: int
    bytes_per_row: float | None  # table_bytes / rows
    projected_rows: int | None
    projected_bytes: int | None  # (table + indexes) bytes per row x projected rows


def _sized(query: str, functions: SizeFunctions) -> sql.Composed:
    """The query with the provider's size functions in it (quoted as identifiers)."""
    return sql.SQL(query).format(relation=sql.Identifier(functions.relation),
                                 table=sql.Identifier(functions.table),
                                 indexes=sql.Identifier(functions.indexes))


def index_sizes(conn: psycopg.Connection[Any], projection: Projection,
                functions: SizeFunctions = LOCAL_SIZES) -> list[IndexSize]:
    sizes = []
    for (index, table, size, rows, method, unique, primary, valid, predicate, columns,
         include, definition) in conn.execute(_sized(_INDEXES, functions)).fetchall():
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
            method=method, unique=unique, primary=primary, valid=valid, predicate=predicate,
            columns=tuple(columns), include=tuple(include), definition=definition,
        ))
    return sizes


def table_sizes(conn: psycopg.Connection[Any], projection: Projection,
                functions: SizeFunctions = LOCAL_SIZES) -> list[TableSize]:
    sizes = []
    for table, rows, heap, total, indexes in conn.execute(_sized(_TABLES, functions)
                                                          ).fetchall():
        target = projection.rows.get(table)
        sizes.append(TableSize(
            table=table, rows=int(rows), heap_bytes=int(heap), table_bytes=int(total),
            indexes_bytes=int(indexes),
            bytes_per_row=round(total / rows, 2) if rows else None,
            projected_rows=target,
            projected_bytes=round((total + indexes) / rows * target) if rows and target else None,
        ))
    return sizes


# --- index definitions: duplicates and redundancy --------------------------------------------

def _same_kind(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (a["table"] == b["table"] and a.get("method") == b.get("method")
            and a.get("predicate") == b.get("predicate"))


def _covers(longer: Mapping[str, Any], shorter: Mapping[str, Any]) -> bool:
    """`longer` serves every lookup `shorter` serves: its key columns start with all of
    `shorter`'s, and it carries whatever `shorter` INCLUDEs (equal indexes cover each other)."""
    short_keys, long_keys = list(shorter["columns"]), list(longer["columns"])
    carried = set(long_keys) | set(longer.get("include", ()))
    return (long_keys[: len(short_keys)] == short_keys
            and set(shorter.get("include", ())) <= carried)


def duplicates_and_redundancy(indexes: Sequence[Mapping[str, Any]]
                              ) -> dict[str, tuple[list[str], list[str]]]:
    """Per index: the indexes it duplicates (same columns, INCLUDEs and uniqueness), and the
    ones that make it redundant (B-tree only: another B-tree whose key starts with all of its
    columns and carries its INCLUDEs serves its lookups, and more). A unique or primary-key
    index is never redundant: it enforces a constraint."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for a in indexes:
        dup, wider = [], []
        for b in indexes:
            if a is b or not a.get("columns") or not _same_kind(a, b) or not _covers(b, a):
                continue
            a_unique, b_unique = enforces_constraint(a), enforces_constraint(b)
            if _covers(a, b) and a_unique == b_unique:
                dup.append(str(b["index"]))
            elif a.get("method") == "btree" and not a_unique and (not _covers(a, b) or b_unique):
                wider.append(str(b["index"]))
        found[str(a["index"])] = (dup, wider)
    return found


def enforces_constraint(index: Mapping[str, Any]) -> bool:
    return bool(index.get("unique") or index.get("primary"))
