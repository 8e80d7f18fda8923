"""Planning at a captured scale without the data: a small built database is given the
planner statistics of a large one (PostgreSQL 18's pg_restore_relation_stats() and
pg_restore_attribute_stats()), so EXPLAIN chooses as it would there.

Statistics alone are not enough. The planner trusts the density reltuples/relpages but
multiplies it by each relation's *physical* page count, and its I/O costs see that physical
size too: injected into a small table, the row estimates shrink back and a query that reads
40% of a big table can plan as an Index Scan where the big table gets a Seq Scan. So every
table and index file is first extended with sparse zero pages (holes: no disk space) to the
captured page count, in segments as PostgreSQL lays them out. A zero page is a valid empty
page to PostgreSQL; the padded database is only planned against, never scanned or vacuumed
(autovacuum and vacuum truncation are switched off for those tables).

This needs the server's data directory on this machine (the embedded server's is), and
re-injection after every migration: CREATE INDEX resets a table's row count, ANALYZE would
overwrite everything. An index the file does not know (one a later migration adds) gets its
own size and rows scaled by its table's growth."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness.errors import ConfigError
from harness.server.needs import version_refusal

_RELATIONS = """
SELECT c.relname, CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END, t.relname,
       pg_relation_size(c.oid) / current_setting('block_size')::int, c.reltuples,
       pg_relation_filepath(c.oid)
FROM pg_class c
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class t ON t.oid = i.indrelid
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'i')
"""

_COLUMNS = """
SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
"""

# The value arguments of pg_restore_attribute_stats() and the type each is passed as.
_COLUMN_ARGUMENTS = (
    ("null_frac", "real"), ("avg_width", "integer"), ("n_distinct", "real"),
    ("most_common_vals", "text"), ("most_common_freqs", "real[]"),
    ("histogram_bounds", "text"), ("correlation", "real"), ("most_common_elems", "text"),
    ("most_common_elem_freqs", "real[]"), ("elem_count_histogram", "real[]"),
)


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str  # "table" or "index"
    table: str | None  # an index's table
    physical_pages: int
    reltuples: float
    filepath: str  # relative to the data directory


@dataclass
class StatisticsLoader:
    """Loads one statistics file into one database, as often as migrations require."""

    statistics: dict[str, Any]
    origin: str  # the file, or the projected profile, named in messages
    progress: Callable[[str], None]
    # each table's real pages and rows, seen before the first padding: what a later index's
    # size is scaled from
    _real: dict[str, tuple[int, float]] = field(default_factory=dict)

    def load(self, conn: psycopg.Connection[Any]) -> None:
        require_server(conn, "--plans-stats")
        relations = {r.name: r for r in _relations(conn)}
        self._check_known(conn, relations)
        for relation in relations.values():
            if relation.kind == "table":
                self._real.setdefault(relation.name,
                                      (relation.physical_pages, relation.reltuples))
        layout = _Layout.of(conn, self.origin)
        captured = {r["name"]: r for r in self.statistics["relations"]}
        padded = 0
        for relation in sorted(relations.values(), key=lambda r: r.kind != "table"):
            target = captured.get(relation.name) or self._derived(relation)
            if target is None:
                continue
            if relation.kind == "table":
                conn.execute(sql.SQL(
                    "ALTER TABLE {} SET (autovacuum_enabled = off, vacuum_truncate = off)"
                ).format(sql.Identifier(relation.name)))
            padded += layout.pad(relation, target["relpages"])
            _restore_relation(conn, relation, target)
        for i, column in enumerate(self.statistics["columns"]):
            if column["table"] in relations:
                self._restore_column(conn, i, column)
        self.progress(f"statistics of {self.statistics.get('source') or self.origin} loaded: "
                      f"{len(captured)} relations, {len(self.statistics['columns'])} columns; "
                      f"{padded:,} zero pages added")

    def anchor(self, conn: psycopg.Connection[Any], name: str) -> Any:
        """An anchor's value as captured: the big database's busiest account, not the small
        one's, so each case binds what it bound there."""
        captured = self.statistics["anchors"].get(name)
        if captured is None:
            raise ConfigError(f"{self.origin}: anchors: no value of @{name} (capture the "
                              "statistics again with this project)")
        row = conn.execute("SELECT to_regtype(%s)::text", [captured["type"]]).fetchone()
        if row is None or row[0] is None:
            raise ConfigError(f"{self.origin}: anchors.{name}.type: no type "
                              f"{captured['type']!r} in this database")
        try:
            value = conn.execute(sql.SQL("SELECT CAST({} AS {})").format(
                sql.Literal(captured["value"]), sql.SQL(row[0]))).fetchone()
        except psycopg.Error as exc:
            raise ConfigError(f"{self.origin}: anchors.{name}.value: "
                              f"{str(exc).strip().splitlines()[0]}") from None
        assert value is not None
        return value[0]

    def _restore_column(self, conn: psycopg.Connection[Any], i: int,
                        column: dict[str, Any]) -> None:
        where = f"{self.origin}: columns[{i}] ({column['table']}.{column['column']})"
        try:
            restored = _restore_column(conn, column)
        except psycopg.Error as exc:
            raise ConfigError(f"{where}: {str(exc).strip().splitlines()[0]}") from None
        if not restored:
            raise ConfigError(f"{where}: PostgreSQL did not take all of these statistics")

    def _check_known(self, conn: psycopg.Connection[Any], relations: dict[str, Relation]) -> None:
        """A file from another schema is refused before anything is changed."""
        for i, captured in enumerate(self.statistics["relations"]):
            known = relations.get(captured["name"])
            if captured["kind"] == "table" and (known is None or known.kind != "table"):
                raise ConfigError(f"{self.origin}: relations[{i}]: no table named "
                                  f"{captured['name']!r} in this database")
        columns = {(str(t), str(c)) for t, c in conn.execute(_COLUMNS).fetchall()}
        indexes = {r["name"] for r in self.statistics["relations"] if r["kind"] == "index"}
        for i, column in enumerate(self.statistics["columns"]):
            if column["table"] in indexes:
                continue  # an expression index's column: loaded when the index is there
            if (column["table"], column["column"]) not in columns:
                raise ConfigError(f"{self.origin}: columns[{i}]: no column "
                                  f"{column['table']}.{column['column']} in this database")

    def _derived(self, relation: Relation) -> dict[str, Any] | None:
        """An index the file does not know, sized as its table grew from real to captured."""
        if relation.kind != "index" or relation.table not in self._real:
            return None
        captured = next((r for r in self.statistics["relations"]
                         if r["name"] == relation.table), None)
        if captured is None:
            return None
        real_pages, real_rows = self._real[relation.table]
        pages = captured["relpages"] / max(real_pages, 1)
        rows = captured["reltuples"] / real_rows if real_rows > 0 else pages
        self.progress(f"index {relation.name} is not in {self.origin}: sized from "
                      f"{relation.table} ({pages:.1f}x its pages)")
        return {"relpages": round(relation.physical_pages * pages),
                "reltuples": max(relation.reltuples, 0) * rows, "relallvisible": 0}


def require_server(conn: psycopg.Connection[Any], what: str) -> None:
    refusal = version_refusal(conn.info.server_version, what)
    if refusal:
        raise ConfigError(refusal)


def _relations(conn: psycopg.Connection[Any]) -> list[Relation]:
    return [Relation(str(name), str(kind), table, int(pages), float(tuples), str(path))
            for name, kind, table, pages, tuples, path in conn.execute(_RELATIONS).fetchall()]


@dataclass(frozen=True)
class _Layout:
    data_dir: Path
    block_size: int
    segment_pages: int

    @classmethod
    def of(cls, conn: psycopg.Connection[Any], origin: str) -> _Layout:
        row = conn.execute(
            "SELECT current_setting('data_directory'), current_setting('block_size')::int, "
            "(SELECT setting::int FROM pg_settings WHERE name = 'segment_size')").fetchone()
        assert row is not None
        data_dir = Path(row[0])
        if not (data_dir / "PG_VERSION").is_file():
            raise ConfigError(f"{origin}: loading statistics extends the server's relation "
                              f"files, and its data directory {data_dir} is not on this "
                              "machine (use the embedded provider)")
        return cls(data_dir, int(row[1]), int(row[2]))

    def pad(self, relation: Relation, pages: int) -> int:
        """Extends the relation's files with holes to `pages` pages; returns pages added."""
        if pages <= relation.physical_pages:
            return 0
        first = self.data_dir / relation.filepath
        owner = first.stat()
        for segment in range((pages - 1) // self.segment_pages + 1):
            size = min(self.segment_pages, pages - segment * self.segment_pages) * self.block_size
            path = first if segment == 0 else first.with_name(f"{first.name}.{segment}")
            if not path.exists():
                path.touch(mode=0o600)
                os.chown(path, owner.st_uid, owner.st_gid)
            if path.stat().st_size < size:
                os.truncate(path, size)
        return pages - relation.physical_pages


def _restore_relation(conn: psycopg.Connection[Any], relation: Relation,
                      target: dict[str, Any]) -> None:
    # A relation larger here than captured keeps its physical size, and its row count is
    # kept at the captured one by giving the density over the physical pages.
    pages = max(int(target["relpages"]), relation.physical_pages)
    conn.execute(
        "SELECT pg_restore_relation_stats('schemaname', 'public', 'relname', %s::text, "
        "'relpages', %s::integer, 'reltuples', %s::real, 'relallvisible', %s::integer)",
        [relation.name, pages, float(target["reltuples"]),
         min(int(target["relallvisible"]), pages)])


def _restore_column(conn: psycopg.Connection[Any], column: dict[str, Any]) -> bool:
    arguments: list[sql.Composable] = [
        sql.SQL("'schemaname', 'public', 'relname', {}::text, 'attname', {}::text, "
                "'inherited', {}::boolean").format(
            sql.Literal(column["table"]), sql.Literal(column["column"]),
            sql.Literal(column["inherited"]))]
    for name, kind in _COLUMN_ARGUMENTS:
        if column.get(name) is not None:
            arguments.append(sql.SQL("{}, {}::" + kind).format(
                sql.Literal(name), sql.Literal(column[name])))
    row = conn.execute(sql.SQL("SELECT pg_restore_attribute_stats({})").format(
        sql.SQL(", ").join(arguments))).fetchone()
    return bool(row and row[0])
