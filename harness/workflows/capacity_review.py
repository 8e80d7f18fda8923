"""Capacity review: one command, one database, every figure measured in that run. The
profile's database is built at the revision before the reviewed migration (the project's
load revision by default), every case runs there, the same database is migrated to the
head, every case runs again, and then, on the migrated database, the write cost of the
indexes the migration added and the growth of every index of the written table after a
period of inserts are measured with the writer the project declares (`[capacity_review]`
in project.toml)."""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness.build.datagen import Progress
from harness.errors import ConfigError
from harness.lifecycle import HEAD, Finished, Lifecycle
from harness.measure.capacity import IndexSize, index_sizes
from harness.options import RunOptions
from harness.project.manifest import CapacityWrites, Project, Projection
from harness.project.scenarios import Case, Scenario

Cases = Sequence[tuple[Scenario, Case]]


def writes_of(project: Project) -> CapacityWrites:
    """The project's writer, or a one-line refusal before any server starts."""
    if project.capacity_writes is None:
        raise ConfigError(f"{project.manifest}: capacity_review: missing (the table the "
                          "application writes to, the `source` rows its one-row `writer` "
                          "INSERT copies, and a `growth` statement; see docs/writing-a-project.md, "
                          "[capacity_review])")
    return project.capacity_writes


def capacity_review(options: RunOptions, project: Project, cases: Cases, base: str, head: str,
                    command: str, life_of: Callable[[RunOptions], Lifecycle]) -> Finished:
    """The review, on the run `life_of` opens (its report goes where that run's does, the
    base run's beside it): every case at `base`, the migration to `head` (under the
    migration check's writer with --plans-migration-check on), every case again, then the
    write cost and index growth there."""
    writes = writes_of(project)
    at_base = replace(options, revision=base, migration_check=False, baseline=None,
                      update_baseline=False)
    with life_of(at_base) as life:
        before = life.base_then_head(cases, head, under_writer=options.migration_check)
        existing = {s.index for s in before.facts.index_sizes}
        life.measure(cases, HEAD)
        run = life.run
        added = [s for s in run.facts.index_sizes
                 if s.table == writes.table and s.index not in existing]
        # a period of inserts and a REINDEX of a big table take longer than any one query
        # the run's statement timeout is meant for
        run.connection.execute("SET statement_timeout = 0")
        growth = measure_growth(run.connection, writes, project.manifest, command, life.progress)
        cost = measure_write_cost(run.connection, writes, project.manifest, added, command,
                                  life.progress)
        review = {"before_revision": before.facts.revision,
                  "head_revision": run.facts.revision, "command": command}
        return life.finish(review=review, measured={"write_cost": cost,
                                                    "index_growth": growth})


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def _rejected_as(manifest: Path, field: str) -> Iterator[None]:
    """A [capacity_review] statement the server rejects (a column the writer misses, a
    typo) is the project's to fix: one line naming the field, not a traceback."""
    try:
        yield
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(f"{manifest}: capacity_review.{field}: {first}") from None


def measure_write_cost(conn: psycopg.Connection[Any], writes: CapacityWrites, manifest: Path,
                       added: Sequence[IndexSize], command: str,
                       progress: Progress) -> dict[str, Any] | None:
    """Rows per second of the project's one-row writer with the migration's new indexes on
    the written table, and with them dropped: each round in a transaction rolled back (the
    drop included), rounds alternating so a machine that slows down slows both arms. The
    rolled-back rows stay behind as dead tuples until the VACUUM at the end; alternating
    spreads them over both arms."""
    if not added:
        progress(f"write cost: the migration adds no index on {writes.table}; not measured")
        return None
    total = _index_count(conn, writes.table)
    with _rejected_as(manifest, "source"):
        rows = _source_rows(conn, writes)
    if not rows:
        raise ConfigError(f"{manifest}: capacity_review.source: returned no row to copy")
    rates: dict[str, list[float]] = {"with": [], "without": []}
    for round_number in range(writes.write_rounds):
        for arm in ("without", "with"):
            with _rejected_as(manifest, "writer"):
                rate = _insert_round(conn, writes.writer, rows,
                                     added if arm == "without" else ())
            rates[arm].append(round(rate))
            progress(f"write cost round {round_number + 1}/{writes.write_rounds}: "
                     f"{rate:,.0f} rows/s {arm} the migration's {len(added)} indexes")
    with_, without = statistics.median(rates["with"]), statistics.median(rates["without"])
    conn.execute("DROP TABLE capacity_source")
    conn.execute(sql.SQL("VACUUM {}").format(sql.Identifier(writes.table)))
    return {
        "table": writes.table,
        "indexes_without": total - len(added),
        "indexes_with": total,
        "rows_per_second_without": without,
        "rows_per_second_with": with_,
        "slowdown_percent": round(100 * (1 - with_ / without), 1),
        "command": f"{command} ({writes.write_rounds} rounds of {rows:,} single-row "
                   "inserts each way; medians)",
        "measured_at": _now(),
    }


def _source_rows(conn: psycopg.Connection[Any], writes: CapacityWrites) -> int:
    """The rows the writer copies, read once into a small numbered table: a write then
    reads a cached row, as an application holds the values it inserts, instead of a random
    page of a big table, whose read would dilute what the indexes cost."""
    conn.execute(sql.SQL(
        "CREATE TEMPORARY TABLE capacity_source AS SELECT row_number() OVER () AS n, s.* "
        "FROM ({}) AS s LIMIT {}").format(sql.SQL(writes.source.strip().rstrip(";")),
                                         sql.Literal(writes.write_rows)))
    conn.execute("ALTER TABLE capacity_source ADD PRIMARY KEY (n)")
    conn.execute("ANALYZE capacity_source")
    counted = conn.execute("SELECT count(*) FROM capacity_source").fetchone()
    return int(counted[0]) if counted else 0


def _index_count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass",
                       (table,)).fetchone()
    return int(row[0]) if row else 0


class _RolledBack(Exception):
    pass


def _insert_round(conn: psycopg.Connection[Any], writer: str, rows: int,
                  dropped: Sequence[IndexSize]) -> float:
    try:
        with conn.transaction():
            for index in dropped:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index.index)))
            started = time.perf_counter()
            # one statement per row, prepared and pipelined as an application's driver sends
            # its inserts: what is left is the server's work per row, which the indexes add to
            with conn.pipeline(), conn.cursor() as cursor:
                for n in range(1, rows + 1):
                    cursor.execute(writer, {"n": n}, prepare=True)
            elapsed = time.perf_counter() - started
            raise _RolledBack
    except _RolledBack:
        pass
    return rows / elapsed


def measure_growth(conn: psycopg.Connection[Any], writes: CapacityWrites, manifest: Path,
                   command: str, progress: Progress) -> dict[str, Any]:
    """Each index of the written table as built, after the project's `growth` statement (a
    period of inserts), and rebuilt over the same rows: what page splits cost beyond the
    rows themselves. Leaves the database grown and reindexed."""
    table = sql.Identifier(writes.table)
    fresh = _table_indexes(conn, writes.table)
    progress(f"index growth: {writes.growth_period} into {writes.table}")
    with _rejected_as(manifest, "growth"):
        inserted = conn.execute(writes.growth).rowcount
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
    grown = _table_indexes(conn, writes.table)
    conn.execute(sql.SQL("REINDEX TABLE {}").format(table))
    conn.execute(sql.SQL("ANALYZE {}").format(table))
    rebuilt = _table_indexes(conn, writes.table)
    return {
        "table": writes.table,
        "period": writes.growth_period,
        "rows_before": next(iter(fresh.values())).table_rows if fresh else 0,
        "rows_inserted": max(inserted, 0),
        "indexes": [
            {"index": name, "fresh_bytes": fresh[name].size_bytes,
             "after_month_bytes": grown[name].size_bytes,
             "rebuilt_bytes": rebuilt[name].size_bytes,
             "growth_over_rebuilt": round(grown[name].size_bytes / rebuilt[name].size_bytes, 3)}
            for name in sorted(fresh)
        ],
        "command": command,
        "measured_at": _now(),
    }


def _table_indexes(conn: psycopg.Connection[Any], table: str) -> dict[str, IndexSize]:
    return {s.index: s for s in index_sizes(conn, Projection()) if s.table == table}
