"""Planner statistics, captured: what PostgreSQL's planner knows of a database's tables,
indexes and columns, written to a JSON file without changing anything there. These are the
inputs of PostgreSQL 18's pg_restore_relation_stats() and pg_restore_attribute_stats(), so
a later run can make a small database plan as the captured one does.

Per table and index: relpages, reltuples, relallvisible. Per column: null_frac, avg_width,
n_distinct, most common values and frequencies, histogram bounds, correlation (and the
element statistics of array columns). Value arrays are kept in PostgreSQL's text form, the
form pg_restore_attribute_stats() takes.

The file also holds what a projected run must bind and set to plan as the captured database
did: the values of the project's anchors there (the busiest account's id, the newest date)
and the planner settings the capture ran with. `read_statistics` checks a file's shape;
`scaled` multiplies a capture's sizes (a profile projected beyond what is loaded)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness.errors import ConfigError
from harness.files import write_atomically
from harness.version import __version__

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


def capture(conn: psycopg.Connection[Any], label: str = "",
            anchors: Mapping[str, str] | None = None,
            planner: Mapping[str, str] | None = None,
            anchors_file: Path | None = None) -> dict[str, Any]:
    """Reads the statistics in one read-only transaction: the file describes one moment.
    `anchors` are the project's anchor queries (name -> SQL, from `anchors_file`), run to
    record their values."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        version = conn.execute("SHOW server_version").fetchone()
        relations = conn.execute(_RELATIONS).fetchall()
        columns = conn.execute(_COLUMNS).fetchall()
        anchor_values = {name: _anchor_value(conn, f"{anchors_file or 'project'}: anchors."
                                             f"{name}", query)
                         for name, query in (anchors or {}).items()}
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
        "anchors": anchor_values,
        "planner": dict(planner or {}),
    }


def _anchor_value(conn: psycopg.Connection[Any], where: str, query: str) -> dict[str, str]:
    """An anchor's value in PostgreSQL's text form with its type, so a projected run binds
    exactly the value the captured database gave (a uuid stays a uuid)."""
    wrapped = sql.SQL("SELECT a::text, pg_typeof(a)::text FROM ({}) AS anchor(a) LIMIT 1")
    try:
        row = conn.execute(wrapped.format(sql.SQL(query))).fetchone()
    except psycopg.Error as exc:
        raise ConfigError(f"{where}: {str(exc).strip().splitlines()[0]}") from None
    if row is None or row[0] is None:
        raise ConfigError(f"{where}: the query found no value in this database")
    return {"value": str(row[0]), "type": str(row[1])}


def read_statistics(path: Path) -> dict[str, Any]:
    """A statistics file, checked for shape: a corrupted or foreign file is one line naming
    the file and the field. Whether its tables and columns exist is the loader's check."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the statistics: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not a statistics file (not JSON: {exc})") from None
    if not isinstance(data, dict) or "relations" not in data:
        raise ConfigError(f"{path}: not a statistics file (no 'relations'; write one with "
                          "plan-harness stats capture)")
    if data.get("format") != FORMAT:
        raise ConfigError(f"{path}: format: {data.get('format')!r} is not {FORMAT}, the "
                          "format this harness reads")
    for i, relation in enumerate(_list(path, data, "relations")):
        _require(path, f"relations[{i}]", relation, {
            "name": str, "kind": str, "relpages": int, "reltuples": (int, float),
            "relallvisible": int})
        if relation["kind"] not in ("table", "index"):
            raise ConfigError(f"{path}: relations[{i}].kind: {relation['kind']!r} is not "
                              "'table' or 'index'")
    for i, column in enumerate(_list(path, data, "columns")):
        _require(path, f"columns[{i}]", column, {"table": str, "column": str, "inherited": bool})
    for field in ("anchors", "planner"):
        if not isinstance(data.setdefault(field, {}), dict):
            raise ConfigError(f"{path}: {field}: not a table of names")
    for name, anchor in data["anchors"].items():
        _require(path, f"anchors.{name}", anchor, {"value": str, "type": str})
    return data


def _list(path: Path, data: dict[str, Any], field: str) -> list[Any]:
    value = data.get(field, [])
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {field}: not a list")
    return value


def _require(path: Path, where: str, value: Any, fields: Mapping[str, Any]) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where}: not an object")
    for name, kind in fields.items():
        if not isinstance(value.get(name), kind) or (kind is int and isinstance(value[name], bool)):
            raise ConfigError(f"{path}: {where}.{name}: missing or of the wrong type "
                              f"({value.get(name)!r})")


def scaled(statistics: dict[str, Any], factor: float, label: str,
           tables: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The statistics of the same data `factor` times larger: every relation's pages, rows
    and all-visible pages grow by the factor, or by its table's factor in `tables` (a table
    that does not grow with the data: accounts); per column the shape stays (null and common
    value fractions, histograms, correlation, and n_distinct where ANALYZE stored it as a
    fraction of the rows). A positive n_distinct (a bounded domain: accounts, statuses) is
    kept, which is right for columns whose values do not grow with the data and an
    underestimate for any that do but had under 10% distinct values at the captured size."""
    def grown(relation: dict[str, Any]) -> dict[str, Any]:
        by = (tables or {}).get(relation["table"] or relation["name"], factor)
        return {**relation, "relpages": round(relation["relpages"] * by),
                "reltuples": relation["reltuples"] * by,
                "relallvisible": round(relation["relallvisible"] * by)}

    relations = [grown(r) for r in statistics["relations"]]
    # a check of the captured statistics says nothing of scaled ones
    kept = {key: value for key, value in statistics.items() if key != "fidelity"}
    return {**kept, "relations": relations, "source": label,
            "captured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def write_statistics(path: Path, statistics: dict[str, Any]) -> None:
    write_atomically(path, json.dumps(statistics, indent=1) + "\n", "the statistics")


def gates(statistics: Mapping[str, Any], profile: str, revision: str) -> bool:
    """Projected verdicts gate only when this file's projection onto `profile` at
    `revision` was checked against the real database and every plan agreed
    (plan-harness stats stamp); otherwise they are a preview: what fails is reported
    as a warning."""
    fidelity = statistics.get("fidelity")
    return (isinstance(fidelity, dict) and fidelity.get("onto") == profile
            and fidelity.get("revision") == revision
            and fidelity.get("agreed") == fidelity.get("compared") != 0)


def fidelity_note(statistics: Mapping[str, Any], profile: str, revision: str) -> str:
    fidelity = statistics.get("fidelity")
    if not isinstance(fidelity, dict):
        return "not checked against the real database"
    note = (f"{fidelity.get('agreed')} of {fidelity.get('compared')} plans agreed with the "
            f"real database when projected onto profile {fidelity.get('onto')} at revision "
            f"{fidelity.get('revision')} ({fidelity.get('checked_at', '')})")
    if fidelity.get("onto") != profile or fidelity.get("revision") != revision:
        note += f"; not checked onto {profile} at {revision}"
    return note
