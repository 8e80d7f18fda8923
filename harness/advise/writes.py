"""Writes: what a set of indexes costs the application's writes, with the project's one-row
writer (`[capacity_review]`): WAL bytes per written row (the gate: it counts every index
entry and page the row touches, and hardly moves with a busy machine) and rows per second
with their spread over the rounds (information). Each round runs in a transaction that is
rolled back, the configuration's drops included."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from harness.advise.trials import Bench
from harness.errors import ConfigError
from harness.project.manifest import CapacityWrites

SOURCE_TABLE = "advise_source"


@dataclass(frozen=True)
class WriteCost:
    wal_bytes_per_row: float  # median over the rounds
    rows_per_second: float  # median over the rounds
    rows_per_second_rounds: tuple[float, ...]
    rows: int


def prepare_source(conn: psycopg.Connection[Any], writes: CapacityWrites, manifest: str,
                   rows: int) -> int:
    """The rows the writer copies, read once into a numbered temporary table (the writer
    reads it as `capacity_source`, the name the project's statement uses)."""
    try:
        conn.execute("DROP TABLE IF EXISTS capacity_source")
        conn.execute(sql.SQL(
            "CREATE TEMPORARY TABLE capacity_source AS SELECT row_number() OVER () AS n, s.* "
            "FROM ({}) AS s LIMIT {}").format(sql.SQL(writes.source.strip().rstrip(";")),
                                             sql.Literal(rows)))
        conn.execute("ALTER TABLE capacity_source ADD PRIMARY KEY (n)")
        conn.execute("ANALYZE capacity_source")
    except psycopg.Error as exc:
        raise ConfigError(f"{manifest}: capacity_review.source: "
                          f"{str(exc).strip().splitlines()[0]}") from None
    row = conn.execute("SELECT count(*) FROM capacity_source").fetchone()
    return int(row[0]) if row else 0


def write_cost(bench: Bench, present: frozenset[str], writes: CapacityWrites, manifest: str,
               rows: int, rounds: int) -> WriteCost:
    """`rounds` rounds of `rows` one-row writes under the configuration `present`."""
    wal, rates = [], []
    for _ in range(rounds):
        with bench.applied(present):
            conn = bench.conn
            start = _lsn(conn)
            started = time.perf_counter()
            try:
                with conn.pipeline(), conn.cursor() as cursor:
                    for n in range(1, rows + 1):
                        cursor.execute(writes.writer, {"n": n}, prepare=True)
            except psycopg.Error as exc:
                raise ConfigError(f"{manifest}: capacity_review.writer: "
                                  f"{str(exc).strip().splitlines()[0]}") from None
            elapsed = time.perf_counter() - started
            wal.append((_lsn(conn) - start) / rows)
            rates.append(rows / elapsed)
    return WriteCost(round(statistics.median(wal), 1), round(statistics.median(rates)),
                     tuple(round(r) for r in rates), rows)


def _lsn(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


def spread(values: Sequence[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}" if values else ""
