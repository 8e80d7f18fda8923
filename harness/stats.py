"""Planner statistics, captured: what PostgreSQL's planner knows of a database's tables,
indexes and columns, written to a JSON file without changing anything there. These are the
inputs of PostgreSQL 18's pg_restore_relation_stats() and pg_restore_attribute_stats(), so
a later run can make a small database plan as the captured one does.

Per table and index: relpages, reltuples, relallvisible. Per column: null_frac, avg_width,
n_distinct, most common values and frequencies, histogram bounds, correlation (and the
element statistics of array columns). Value arrays are kept in PostgreSQL's text form, the
form pg_restore_attribute_stats() takes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import psycopg

from harness import __version__
from harness.files import write_atomically

FORMAT = 1

_RELATIONS = """
SELECT c.relname, CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END,
       t.relname, c.relpages, c.reltuples, c.relallvisible
FROM pg_class c
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class t ON t.oid = i.indrelid
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'i')
ORDER BY 2 DESC, 1
"""

_COLUMNS = """
SELECT tablename, attname, inherited, null_frac, avg_width, n_distinct,
       most_common_vals::text, most_common_freqs, histogram_bounds::text, correlation,
       most_common_elems::text, most_common_elem_freqs, elem_count_histogram
FROM pg_stats
WHERE schemaname = 'public'
ORDER BY tablename, attname, inherited
"""

_COLUMN_FIELDS = ("table", "column", "inherited", "null_frac", "avg_width", "n_distinct",
                  "most_common_vals", "most_common_freqs", "histogram_bounds", "correlation",
                  "most_common_elems", "most_common_elem_freqs", "elem_count_histogram")


def capture(conn: psycopg.Connection[Any], label: str = "") -> dict[str, Any]:
    """Reads the statistics in one read-only transaction: the file describes one moment."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        version = conn.execute("SHOW server_version").fetchone()
        relations = conn.execute(_RELATIONS).fetchall()
        columns = conn.execute(_COLUMNS).fetchall()
    return {
        "format": FORMAT,
        "harness_version": __version__,
        "captured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": label,
        "server_version": str(version[0]) if version else "",
        "relations": [
            {"name": name, "kind": kind, "table": table, "relpages": int(pages),
             "reltuples": float(tuples), "relallvisible": int(visible)}
            for name, kind, table, pages, tuples, visible in relations
        ],
        "columns": [dict(zip(_COLUMN_FIELDS, row, strict=True)) for row in columns],
    }


def write_statistics(path: Path, statistics: dict[str, Any]) -> None:
    write_atomically(path, json.dumps(statistics, indent=1) + "\n", "the statistics")
