"""Datagen: the context a project's data generator loads through, with deterministic
server-side randomness, chunked bulk inserts with progress, and post-load housekeeping."""

from __future__ import annotations

import contextlib
import hashlib
import queue
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import psycopg
from faker import Faker
from psycopg import sql

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.project.manifest import Bound

Progress = Callable[[str], None]
Connection = psycopg.Connection[Any]
T = TypeVar("T")

# For rebuilding keys and validating foreign keys after a load: a validation hash-joins its
# whole table against the referenced key (10M rows against 1M in a measured project), which
# the default 64MB does not hold. Set per transaction only.
REBUILD_MAINTENANCE_WORK_MEM = "256MB"

# Deterministic "random" functions for generators, seeded by the run's seed. They hash a row
# number (or key) with a salt instead of drawing from a stream, so a row's values do not
# depend on the order or the chunk it is generated in: the same seed gives the same data.
_HELPERS = """
CREATE FUNCTION pg_temp.ph_random(k bigint, salt integer) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((hashint8extended(k, {seed}::bigint * 1000003 + salt) >> 11) & 9007199254740991)::float8
       / 9007199254740992.0;
CREATE FUNCTION pg_temp.ph_random(k text, salt integer) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ((hashtextextended(k, {seed}::bigint * 1000003 + salt) >> 11) & 9007199254740991)::float8
       / 9007199254740992.0;
CREATE FUNCTION pg_temp.ph_uuid(kind text, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN md5({seed}::text || ':' || kind || ':' || n::text)::uuid::text;
"""


@dataclass
class Throughput:
    """Rows per second and ETA for a long step, printed at most every `interval_s`."""

    label: str
    total: int
    progress: Progress
    unit: str = "rows"
    interval_s: float = 1.0
    started: float = field(default_factory=time.monotonic)
    _last_report: float = 0.0

    def advance(self, done: int) -> None:
        now = time.monotonic()
        if done < self.total and now - self._last_report < self.interval_s:
            return
        self._last_report = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        line = (f"load {self.label}: {done:,}/{self.total:,} {self.unit} "
                f"({100 * done / self.total:.0f}%), {rate:,.0f} {self.unit}/s")
        if done < self.total and rate > 0:
            line += f", ETA {(self.total - done) / rate:.0f} s"
        else:
            line += f", {elapsed:.1f} s"
        self.progress(line)


class Generator(Protocol):
    """What a project's generator module defines (docs/writing-a-project.md): its data
    parameters with their accepted ranges, a version to bump when the data it writes changes
    (a new version retires kept databases), and `generate`, which fills the schema at the load
    revision through the context."""

    PARAMETERS: Mapping[str, Bound]
    VERSION: str

    def generate(self, ctx: LoadContext, /) -> None: ...


class LoadContext:
    """What a generator's `generate(ctx)` gets: a connection, its profile data, the seed, a
    Faker seeded by it, and bulk-loading helpers that show progress.

    With `workers` > 1 and a way to open more sessions, `insert_generated` runs chunks on that
    many sessions at once. Values stay the same (they hash the row number); rows of
    neighbouring chunks may interleave on disk, and chunks are kept small so that the table
    stays nearly in generation (time) order."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        data: Mapping[str, int | float],
        seed: int,
        progress: Progress,
        chunk_rows: int = 100_000,
        workers: int = 1,
        open_session: Callable[[], psycopg.Connection[Any]] | None = None,
    ) -> None:
        self.conn = conn
        self.data = data
        self.seed = seed
        self.progress = progress
        self.chunk_rows = chunk_rows
        self.workers = workers if open_session is not None else 1
        self._open_session = open_session
        self._sessions: list[psycopg.Connection[Any]] = []
        self.faker = Faker("en_US")
        self.faker.seed_instance(seed)
        self.row_counts: dict[str, int] = {}
        prepare_session(conn, seed)

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self._sessions.clear()

    def vocabulary(self, make: Callable[[], str], size: int) -> list[str]:
        """`size` distinct-ish values from a Faker method, deterministic for the seed."""
        return [make() for _ in range(size)]

    def uuids(self, kind: str, count: int) -> list[str]:
        """`pg_temp.ph_uuid(kind, n)` for n = 1..count, computed here: a generator that
        refers to rows of a small table many times can pass their ids as a jsonb array and
        look them up, which costs a fraction of computing the md5 per row in SQL."""
        return [str(uuid.UUID(hashlib.md5(f"{self.seed}:{kind}:{n}".encode()).hexdigest()))
                for n in range(1, count + 1)]

    def insert_generated(
        self, table: str, statement: str, total: int, params: Mapping[str, Any] | None = None,
        unit: str = "rows",
    ) -> int:
        """Runs `statement` (an INSERT ... SELECT over generate_series(%(lo)s, %(hi)s)) in
        chunks of lo..hi, committing and reporting progress after each chunk. `unit` names
        what the series counts when it is not rows of `table` (e.g. contacts whose messages
        are generated)."""
        if total <= 0:
            return 0
        chunks = [(lo, min(lo + self.chunk_rows - 1, total))
                  for lo in range(1, total + 1, self.chunk_rows)]
        meter = Throughput(table, total, self.progress, unit)
        run = self._run_parallel if self.workers > 1 and len(chunks) > 1 else self._run_serial
        inserted = run(statement, dict(params or {}), chunks, meter)
        self.row_counts[table] = self.row_counts.get(table, 0) + inserted
        return inserted

    def _run_serial(self, statement: str, params: dict[str, Any],
                    chunks: list[tuple[int, int]], meter: Throughput) -> int:
        inserted = 0
        for lo, hi in chunks:
            inserted += _insert_chunk(self.conn, statement, params, lo, hi)
            meter.advance(hi)
        return inserted

    def _run_parallel(self, statement: str, params: dict[str, Any],
                      chunks: list[tuple[int, int]], meter: Throughput) -> int:
        jobs = [partial(_insert_chunk, statement=statement, params=params, lo=lo, hi=hi)
                for lo, hi in chunks]
        inserted = done = 0

        def finished(index: int, rows: int) -> None:
            nonlocal inserted, done
            inserted += rows
            done += chunks[index][1] - chunks[index][0] + 1
            meter.advance(done)

        run_on_sessions(self._worker_sessions(), jobs, finished)
        return inserted

    def worker_sessions(self) -> list[Connection]:
        """The loading sessions (opened on first use), or none with one worker."""
        return self._worker_sessions() if self.workers > 1 else []

    def _worker_sessions(self) -> list[Connection]:
        assert self._open_session is not None
        while len(self._sessions) < self.workers:
            session = self._open_session()
            prepare_session(session, self.seed)
            self._sessions.append(session)
        return self._sessions

    def insert_derived(
        self, table: str, statement: str, params: Mapping[str, Any] | None = None
    ) -> int:
        """Runs one INSERT ... SELECT that derives rows from tables already loaded."""
        return self.insert_derived_together([(table, statement, params or {})])[table]

    def insert_derived_together(
        self, steps: Sequence[tuple[str, str, Mapping[str, Any]]]
    ) -> dict[str, int]:
        """Runs independent derivations (table, INSERT ... SELECT, params), each in one
        statement, on as many sessions at once as there are workers."""
        jobs = [partial(_timed_statement, statement=statement, params=dict(params))
                for _, statement, params in steps]
        counts: dict[str, int] = {}

        def finished(index: int, outcome: tuple[int, float]) -> None:
            table, (rows, elapsed) = steps[index][0], outcome
            counts[table] = counts.get(table, 0) + rows
            self.row_counts[table] = self.row_counts.get(table, 0) + rows
            self.progress(f"load {table}: {rows:,} rows, {rows / max(elapsed, 1e-9):,.0f} "
                          f"rows/s, {elapsed:.1f} s")

        if self.workers > 1 and len(jobs) > 1:
            run_on_sessions(self._worker_sessions(), jobs, finished)
        else:
            for index, job in enumerate(jobs):
                finished(index, job(self.conn))
        return counts



# The name before 0.2 (loading was called seeding); kept for one release.
SeedContext = LoadContext


def run_on_sessions(sessions: Sequence[Connection], jobs: Sequence[Callable[[Connection], T]],
                    finished: Callable[[int, T], None]) -> None:
    """Runs each job on whichever session is idle, as many at once as there are sessions,
    calling finished(job's index, its result) in this thread as jobs end. A failed job (or
    Ctrl-C) cancels the other sessions' statements and is raised."""
    idle: queue.Queue[Connection] = queue.Queue()
    for session in sessions:
        idle.put(session)

    def work(job: Callable[[Connection], T]) -> T:
        session = idle.get()
        try:
            return job(session)
        finally:
            idle.put(session)

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        futures = {pool.submit(work, job): index for index, job in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                finished(futures[future], future.result())
        except BaseException:
            # A server that crashed (a full disk) cannot be asked to cancel; that must not
            # hide why.
            for future in futures:
                future.cancel()
            for session in sessions:
                with contextlib.suppress(psycopg.Error):
                    session.cancel_safe()
            raise


def _insert_chunk(conn: Connection, statement: str, params: dict[str, Any],
                  lo: int, hi: int) -> int:
    # Never prepared: psycopg prepares a statement on its sixth run, and after five more the
    # server may switch to a generic plan, in which the parameters (vocabularies, bounds) are
    # no longer constants folded while planning. A 100k-row chunk of the largest table of
    # a 10M-row profile: 0.69 s unprepared, 1.59 s prepared from the eleventh on (median;
    # benchmarks/seed_chunks.py).
    cursor = conn.execute(statement, {**params, "lo": lo, "hi": hi}, prepare=False)
    conn.commit()
    return max(cursor.rowcount, 0)


def _timed_statement(conn: Connection, statement: str, params: dict[str, Any]
                     ) -> tuple[int, float]:
    started = time.monotonic()
    cursor = conn.execute(statement, params)
    conn.commit()
    return max(cursor.rowcount, 0), time.monotonic() - started


def prepare_session(conn: psycopg.Connection[Any], seed: int) -> None:
    """Makes a session ready to load: the deterministic helper functions, and no per-row
    foreign-key triggers when the role may skip them (generators keep references consistent
    by construction; skipping needs superuser, which the harness's own servers give it)."""
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if row and row[0]:
        conn.execute("SET session_replication_role = replica")
    conn.execute(sql.SQL(_HELPERS.format(seed=int(seed))))
    conn.commit()


@dataclass(frozen=True)
class DeferredKeys:
    """Keys and indexes of the public tables, set aside for a bulk load and rebuilt after:
    inserting into a B-tree row by row (random UUID keys above all) is several times slower
    than building it once, and a built index is compact where a grown one is not."""

    foreign_keys: tuple[tuple[str, str, str], ...]  # (table, name, definition)
    keys: tuple[tuple[str, str, str], ...]  # primary and unique constraints
    indexes: tuple[tuple[str, str], ...]  # (name, CREATE INDEX statement)

    @classmethod
    def drop(cls, conn: psycopg.Connection[Any]) -> DeferredKeys:
        constraints = conn.execute(_CONSTRAINTS).fetchall()
        deferred = cls(
            foreign_keys=tuple((t, n, d) for t, n, d, kind in constraints if kind == "f"),
            keys=tuple((t, n, d) for t, n, d, kind in constraints if kind in ("p", "u")),
            indexes=tuple(conn.execute(_PLAIN_INDEXES).fetchall()),
        )
        for table, name, _ in (*deferred.foreign_keys, *deferred.keys):
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)))
        for name, _ in deferred.indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        conn.commit()
        return deferred

    def rebuild(self, conn: Connection, progress: Progress,
                sessions: Sequence[Connection] = ()) -> None:
        """Builds the keys and indexes on `conn`, then validates the foreign keys on
        `sessions` at once (on `conn` when there are none), a table's keys on one session:
        validations of one table queue behind each other's locks anyway."""
        started = time.monotonic()
        _use_rebuild_memory(conn)
        for table, name, definition in self.keys:
            conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                sql.Identifier(table), sql.Identifier(name)) + sql.SQL(definition))
        for _, statement in self.indexes:
            conn.execute(sql.SQL(statement))
        for table, name, definition in self.foreign_keys:
            # NOT VALID now and VALIDATE below: one join per key instead of a trigger per row,
            # and a validation locks its table against nothing the other validations need.
            conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                sql.Identifier(table), sql.Identifier(name)) + sql.SQL(definition + " NOT VALID"))
        conn.commit()
        jobs = [partial(_validate, keys=keys) for keys in self._foreign_keys_by_table(conn)]
        if sessions:
            run_on_sessions(sessions, jobs, lambda index, result: None)
        else:
            for job in jobs:
                job(conn)
        progress(f"keys and indexes rebuilt after the load ({len(self.keys)} keys, "
                 f"{len(self.indexes)} indexes, {len(self.foreign_keys)} foreign keys): "
                 f"{time.monotonic() - started:.1f} s")

    def _foreign_keys_by_table(self, conn: Connection) -> list[list[tuple[str, str]]]:
        """(table, constraint) groups, one per table, the largest table first."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for table, name, _ in self.foreign_keys:
            groups.setdefault(table, []).append((table, name))
        sizes = dict(conn.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname = ANY(%s) "
            "AND relnamespace = 'public'::regnamespace", [list(groups)]).fetchall())
        conn.commit()
        return [groups[t] for t in sorted(groups, key=lambda t: -int(sizes.get(t, 0)))]


def _use_rebuild_memory(conn: Connection) -> None:
    conn.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(
        sql.Literal(REBUILD_MAINTENANCE_WORK_MEM)))


def _validate(conn: Connection, keys: list[tuple[str, str]]) -> None:
    for table, name in keys:
        _use_rebuild_memory(conn)
        conn.execute(sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(
            sql.Identifier(table), sql.Identifier(name)))
        conn.commit()


_CONSTRAINTS = """
SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid), con.contype
FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
WHERE con.connamespace = 'public'::regnamespace AND con.contype IN ('p', 'u', 'f')
  AND rel.relname <> 'alembic_version'
ORDER BY con.contype DESC, rel.relname, con.conname
"""
_PLAIN_INDEXES = """
SELECT ix.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ix ON ix.oid = i.indexrelid JOIN pg_class rel ON rel.oid = i.indrelid
WHERE rel.relnamespace = 'public'::regnamespace AND rel.relname <> 'alembic_version'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
ORDER BY ix.relname
"""


def skewed_weights(count: int, exponent: float) -> list[float]:
    """Zipf-like weights 1/k^exponent, normalised; exponent 0 gives equal weights."""
    raw = [1.0 / (k**exponent) for k in range(1, count + 1)]
    total = sum(raw)
    return [w / total for w in raw]


def lower_bounds(weights: Sequence[float]) -> list[float]:
    """Cumulative lower bounds [0, w1, w1+w2, ...] for SQL's width_bucket(u, bounds)."""
    bounds, running = [], 0.0
    for weight in weights:
        bounds.append(running)
        running += weight
    return bounds


def vacuum_analyze(conn: psycopg.Connection[Any], progress: Progress) -> None:
    """VACUUM (ANALYZE) every table of the public schema, then check the visibility map:
    index-only scans read the heap for pages not marked all-visible."""
    started = time.monotonic()
    was_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute("VACUUM (ANALYZE, FREEZE)")
        lagging = _tables_not_all_visible(conn)
        if lagging:
            conn.execute("CHECKPOINT")
            conn.execute("VACUUM (FREEZE)")
            lagging = _tables_not_all_visible(conn)
    finally:
        conn.autocommit = was_autocommit
    note = f"; not all-visible after vacuum: {', '.join(lagging)}" if lagging else ""
    progress(f"vacuum analyze: {time.monotonic() - started:.1f} s{note}")


def _tables_not_all_visible(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' "
        "AND relnamespace = 'public'::regnamespace AND relpages > 0 "
        "AND relallvisible < 0.95 * relpages ORDER BY relname"
    ).fetchall()
    return [str(r[0]) for r in rows]


def table_checksums(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """An md5 over every row of every public table, in a stable order: equal checksums
    mean equal data."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' "
            "AND relnamespace = 'public'::regnamespace AND relname <> 'alembic_version' "
            "ORDER BY relname"
        ).fetchall()
    ]
    sums: dict[str, str] = {}
    for table in tables:
        query = sql.SQL(
            "SELECT md5(coalesce(string_agg(md5(t::text), '' ORDER BY t::text), '')) FROM {} t"
        ).format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        sums[table] = str(row[0]) if row else ""
    return sums


def check_seed(seed: int) -> int:
    if not 0 <= seed <= 2**31 - 1:
        raise ConfigError(f"--plans-seed must be between 0 and {2**31 - 1}, not {seed}")
    return seed
