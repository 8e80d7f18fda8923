"""Migration cost under a writer: applies a project's migrations one revision at a time to a
loaded database while a writer keeps inserting rows, and records how long each step and
each statement took and the longest time a write waited for a lock meanwhile (sampled from
pg_stat_activity, so a slow machine is not mistaken for a blocking migration). A non-concurrent
CREATE INDEX blocks every insert into its table for the whole build; CREATE INDEX
CONCURRENTLY does not. An index left INVALID by a failed concurrent build is reported."""

from __future__ import annotations

import bisect
import itertools
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from sqlalchemy import event

from harness.build import migrations as schema
from harness.errors import ConfigError

_CREATE_INDEX = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<concurrently>CONCURRENTLY\s+)?"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[\w\"$]+)\s+ON\s+(?:ONLY\s+)?(?P<table>[\w.\"$]+)",
    re.IGNORECASE,
)
# Statements the migration runs that are not schema changes: catalog lookups (an idempotent
# migration asks what exists) and Alembic's own bookkeeping.
_BOOKKEEPING = re.compile(r"^\s*(SELECT|SHOW|SET|BEGIN|COMMIT)\b|alembic_version", re.IGNORECASE)
WRITER_PAUSE_S = 0.005  # between inserts: a steady stream, not a benchmark of its own
SAMPLE_INTERVAL_S = 0.01  # how often the writer's backend is looked at


@dataclass(frozen=True)
class StatementCost:
    revision: str
    sql: str  # whitespace collapsed, cut at 200 characters
    index: str | None  # for CREATE INDEX: the index, its table, and whether CONCURRENTLY
    table: str | None
    concurrently: bool
    seconds: float
    max_write_wait_ms: float  # the most an overlapping insert waited for a lock
    max_insert_ms: float  # the longest overlapping insert, waiting or not


@dataclass(frozen=True)
class StepCost:
    revision: str
    seconds: float
    writes: int  # inserts that completed during the step
    max_write_wait_ms: float  # the most an overlapping insert waited for a lock
    max_insert_ms: float


@dataclass(frozen=True)
class MigrationCost:
    from_revision: str
    to_revision: str
    writer: str  # the project's writer statement
    writes: int
    write_errors: list[str]
    median_write_ms: float | None
    max_write_wait_budget_ms: float
    steps: list[StepCost]
    statements: list[StatementCost]
    invalid_indexes: list[str]

    def failures(self) -> list[str]:
        """One line per reason the migration fails the gate."""
        lines = [
            f"migration {s.revision}: {s.sql[:80]}: writes waited for a lock up to "
            f"{s.max_write_wait_ms:,.0f} ms (budget {self.max_write_wait_budget_ms:,.0f} ms)"
            for s in self.statements if s.max_write_wait_ms > self.max_write_wait_budget_ms
        ]
        lines += [f"migration to {self.to_revision} left INVALID index {name}"
                  for name in self.invalid_indexes]
        if not self.writes:
            lines.append(f"migration check: the writer completed no insert "
                         f"({'; '.join(self.write_errors[:1]) or 'no error'})")
        return lines


@dataclass
class _Writer:
    """Inserts rows one per transaction on its own connection until stopped, recording each
    insert's start and end. A second connection samples the writer's backend in
    pg_stat_activity, so that time spent waiting for a lock (what a migration inflicts) is
    told apart from time spent running slowly (what a busy machine inflicts)."""

    conninfo: str
    sql: str
    spans: list[tuple[float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    samples: list[tuple[float, bool]] = field(default_factory=list)  # (time, waiting on a lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _pid: int | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(ready,), name="plan-harness-writer",
                             daemon=True),
            threading.Thread(target=self._sample, args=(ready,), name="plan-harness-sampler",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        ready.wait(timeout=10)

    def _loop(self, ready: threading.Event) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                self._pid = conn.info.backend_pid
                ready.set()
                while not self._stop.is_set():
                    started = time.monotonic()
                    try:
                        conn.execute(self.sql)
                    except psycopg.Error as exc:
                        self.errors.append(str(exc).strip().splitlines()[0])
                        if len(self.errors) > 20:
                            return  # the statement itself is broken; stop trying
                    else:
                        self.spans.append((started, time.monotonic()))
                    self._stop.wait(WRITER_PAUSE_S)
        except psycopg.Error as exc:
            self.errors.append(str(exc).strip().splitlines()[0])
        finally:
            ready.set()

    def _sample(self, ready: threading.Event) -> None:
        ready.wait(timeout=10)
        if self._pid is None:
            return
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                   (self._pid,)).fetchone()
                self.samples.append((time.monotonic(), bool(row and row[0] == "Lock")))
                self._stop.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _overlapping(self, start: float, end: float) -> list[tuple[float, float]]:
        return [(s, e) for s, e in self.spans if s <= end and e >= start]

    def longest_insert_ms(self, start: float, end: float) -> float:
        """The longest insert that overlapped [start, end], however it spent its time."""
        longest = max((e - s for s, e in self._overlapping(start, end)), default=0.0)
        return round(longest * 1000, 1)

    def longest_lock_wait_ms(self, start: float, end: float) -> float:
        """The most time one insert overlapping [start, end] spent waiting for a lock: the
        sampled intervals in which its backend waited on one."""
        times = [t for t, _ in self.samples]  # sampled in time order
        longest = 0.0
        for s, e in self._overlapping(start, end):
            inside = self.samples[bisect.bisect_left(times, s):bisect.bisect_right(times, e)]
            waited = sum(later[0] - earlier[0]
                         for earlier, later in itertools.pairwise(inside) if earlier[1])
            longest = max(longest, waited)
        return round(longest * 1000, 1)

    def completed(self, start: float, end: float) -> int:
        return sum(1 for _, e in self.spans if start <= e <= end)


@dataclass
class _StatementClock:
    """Times every statement a migration runs on its connection (SQLAlchemy events)."""

    revision: str = ""
    records: list[tuple[str, str, float, float]] = field(default_factory=list)
    _started: float = 0.0

    def attach(self, connection: sqlalchemy.Connection) -> None:
        event.listen(connection, "before_cursor_execute", self._before)
        event.listen(connection, "after_cursor_execute", self._after)

    def _before(self, *args: Any) -> None:
        self._started = time.monotonic()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not _BOOKKEEPING.search(statement):
            self.records.append((self.revision, statement, self._started, time.monotonic()))


def pending_revisions(migrations_dir: Path, current: str, target: str) -> list[str]:
    """The revisions from just after `current` up to `target`, oldest first."""
    script = schema.Revisions(migrations_dir).script()
    chain = [r.revision for r in script.iterate_revisions(target, current)]
    return [r for r in reversed(chain) if r != current]


@contextmanager
def _writing(conninfo: str, writer_sql: str) -> Iterator[_Writer]:
    writer = _Writer(conninfo, writer_sql)
    writer.start()
    try:
        yield writer
    finally:
        writer.stop()


def watch_migration(conninfo: str, migrations_dir: Path, current: str, target: str,
                    writer_sql: str, budget_ms: float,
                    progress: Callable[[str], None]) -> MigrationCost:
    """Upgrades from `current` to `target` one revision at a time under a steady stream of
    inserts (`writer_sql`), and measures what each step and statement cost the writer."""
    if not writer_sql.strip():
        raise ConfigError("the migration check needs a writer statement "
                          "(project.toml: migration_check.writer)")
    clock = _StatementClock()
    windows: list[tuple[str, float, float]] = []
    with _writing(conninfo, writer_sql) as writer:
        time.sleep(0.2)  # let the writer reach its steady state before the first step
        for revision in pending_revisions(migrations_dir, current, target):
            clock.revision = revision
            started = time.monotonic()
            schema.upgrade(conninfo, migrations_dir, revision, on_connect=clock.attach)
            windows.append((revision, started, time.monotonic()))
            progress(f"migration {revision}: {windows[-1][2] - started:.1f} s")
        time.sleep(0.2)  # a write blocked until the last step committed has finished now
    # Waits are known only once the writes blocked by a step have completed: after it.
    steps = [StepCost(revision, round(ended - started, 3), writer.completed(started, ended),
                      writer.longest_lock_wait_ms(started, ended),
                      writer.longest_insert_ms(started, ended))
             for revision, started, ended in windows]
    for step in steps:
        progress(f"migration {step.revision}: writes waited for locks up to "
                 f"{step.max_write_wait_ms:,.0f} ms; longest insert {step.max_insert_ms:,.0f} ms "
                 f"({step.writes:,} completed during it)")
    return MigrationCost(
        from_revision=current, to_revision=target, writer=writer_sql.strip(),
        writes=len(writer.spans), write_errors=sorted(set(writer.errors)),
        median_write_ms=(round(statistics.median(e - s for s, e in writer.spans) * 1000, 2)
                         if writer.spans else None),
        max_write_wait_budget_ms=budget_ms, steps=steps,
        statements=[_statement_cost(r, writer) for r in clock.records],
        invalid_indexes=_invalid_indexes(conninfo),
    )


def _statement_cost(record: tuple[str, str, float, float], writer: _Writer) -> StatementCost:
    revision, statement, started, ended = record
    text = " ".join(statement.split())
    match = _CREATE_INDEX.match(text)
    return StatementCost(
        revision=revision, sql=text[:200],
        index=match["name"].strip('"') if match else None,
        table=match["table"].strip('"') if match else None,
        concurrently=bool(match and match["concurrently"]),
        seconds=round(ended - started, 3),
        max_write_wait_ms=writer.longest_lock_wait_ms(started, ended),
        max_insert_ms=writer.longest_insert_ms(started, ended),
    )


def _invalid_indexes(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE NOT i.indisvalid AND c.relnamespace = 'public'::regnamespace "
            "ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]
