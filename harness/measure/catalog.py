"""Catalog: what the checks need to know of the schema under test, read from the server's
catalog without reading any table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass(frozen=True)
class IndexDefinition:
    """An index as the server defines it, its name taken out of `pg_get_indexdef()`
    ("UNIQUE INDEX ON public.calls USING btree (company_id, id) INCLUDE (status) WHERE ..."):
    table, method, key columns and expressions in order with their opclass and collation,
    INCLUDE columns, predicate and uniqueness. Two indexes with equal definitions serve a plan
    alike whatever they are called."""

    name: str
    table: str
    definition: str
    valid: bool = True


@dataclass(frozen=True)
class Catalog:
    """What the checks need to know of the database the plans ran on."""

    table_rows: Mapping[str, float]
    indexes: Mapping[str, IndexDefinition]
    revision: str
    profile: str
    # the name each definition goes by (the first, by name, when several share one)
    by_definition: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, table_rows: Mapping[str, float], indexes: Mapping[str, IndexDefinition],
           revision: str, profile: str) -> Catalog:
        by_definition: dict[str, str] = {}
        for name in sorted(indexes):
            by_definition.setdefault(indexes[name].definition, name)
        return cls(table_rows, indexes, revision, profile, by_definition)


_INDEXES = """
SELECT ix.relname, quote_ident(ix.relname), tbl.relname, pg_get_indexdef(i.indexrelid),
       i.indisvalid
FROM pg_index i
JOIN pg_class ix ON ix.oid = i.indexrelid
JOIN pg_class tbl ON tbl.oid = i.indrelid
WHERE ix.relnamespace = 'public'::regnamespace
"""


def read_catalog(conn: psycopg.Connection[Any], revision: str, profile: str) -> Catalog:
    tables = conn.execute(
        "SELECT relname, reltuples FROM pg_class WHERE relkind IN ('r', 'p') "
        "AND relnamespace = 'public'::regnamespace"
    ).fetchall()
    indexes = {
        str(name): IndexDefinition(str(name), str(table), unnamed(str(text), str(quoted)),
                                   bool(valid))
        for name, quoted, table, text, valid in conn.execute(_INDEXES).fetchall()
    }
    return Catalog.of({str(name): max(float(rows), 0.0) for name, rows in tables},
                      indexes, revision, profile)


def unnamed(indexdef: str, quoted_name: str) -> str:
    """`pg_get_indexdef()` without "CREATE " and the index's own name."""
    text = indexdef.removeprefix("CREATE ")
    return text.replace(f"INDEX {quoted_name} ON ", "INDEX ON ", 1)


_PARTS = re.compile(r"^(?P<unique>UNIQUE )?INDEX ON (?:ONLY )?(?P<table>\S+) USING "
                    r"(?P<method>\S+) (?P<rest>.*)$", re.DOTALL)


def definition_change(recorded: str, live: str) -> str:
    """What changed between two definitions, as short as says it: "(company_id) (was
    (company_id, scheduled_start))" when only the columns, INCLUDE or predicate moved."""
    old, new = _PARTS.match(recorded), _PARTS.match(live)
    if old and new and all(old[k] == new[k] for k in ("unique", "table", "method")):
        return f"{new['rest']} (was {old['rest']})"
    return f"{live} (was {recorded})"


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
