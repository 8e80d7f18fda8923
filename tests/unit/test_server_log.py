"""Why a server stopped serving, from its log: a full disk PANICs on a WAL write, and the
client sees only a closed connection."""

from __future__ import annotations

from pathlib import Path

from harness.server.provisioning import ServerInfo


def test_the_log_line_that_says_why_is_found(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(
        "LOG:  database system is ready to accept connections\n"
        "ERROR:  duplicate key value violates unique constraint\n"
        'PANIC:  could not write to file "pg_wal/xlogtemp.12": No space left on device\n'
        "LOG:  server process (PID 12) was terminated by signal 6: Aborted\n")
    server = ServerInfo("host=/tmp", "embedded PostgreSQL 18.6", log)
    assert server.why_it_failed() == (
        'PANIC:  could not write to file "pg_wal/xlogtemp.12": No space left on device')


def test_no_log_or_nothing_fatal_says_nothing(tmp_path: Path) -> None:
    assert ServerInfo("host=/tmp", "PostgreSQL at a DSN").why_it_failed() is None
    log = tmp_path / "server.log"
    log.write_text("LOG:  checkpoint complete\n")
    assert ServerInfo("host=/tmp", "embedded", log).why_it_failed() is None
