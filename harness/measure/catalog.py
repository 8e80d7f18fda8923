"""Catalog: what the checks need to know of the schema under test, read from the server's
catalog without reading any table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class Catalog:
    """What the checks need to know of the database the plans ran on."""

    table_rows: Mapping[str, float]
    indexes: frozenset[str]
    revision: str
    profile: str


def read_catalog(conn: psycopg.Connection[Any], revision: str, profile: str) -> Catalog:
    tables = conn.execute(
        "SELECT relname, reltuples FROM pg_class WHERE relkind IN ('r', 'p') "
        "AND relnamespace = 'public'::regnamespace"
    ).fetchall()
    indexes = conn.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'i' AND relnamespace = 'public'::regnamespace"
    ).fetchall()
    return Catalog(
        table_rows={str(name): max(float(rows), 0.0) for name, rows in tables},
        indexes=frozenset(str(r[0]) for r in indexes),
        revision=revision,
        profile=profile,
    )


def existing_row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Each table's rows as the server estimates them (pg_class.reltuples; the statistics
    collector's live rows for a table never analyzed), without reading any table."""
    rows = conn.execute(
        "SELECT c.relname, CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint "
        "ELSE coalesce(s.n_live_tup, 0) END FROM pg_class c "
        "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace "
        "ORDER BY c.relname").fetchall()
    return {str(name): int(count) for name, count in rows}
