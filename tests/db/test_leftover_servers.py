"""The tests' own servers are told apart from other harness runs on the machine: a server
whose data lives outside this session's directory is not counted as one of the tests'."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from harness.server.embedded import EmbeddedServer
from support import embedded_postgres_pids


def test_a_server_of_another_run_is_not_counted_as_the_tests() -> None:
    # outside this session's directory, and short: the server's socket lives there
    other_run = Path(tempfile.mkdtemp(prefix="another-run-", dir="/tmp"))
    session_dir = tempfile.tempdir
    tempfile.tempdir = str(other_run)  # where another harness run keeps its servers
    try:
        with EmbeddedServer() as other:
            assert other.admin_conninfo  # it answers
            theirs = set(embedded_postgres_pids(other_run))
            ours = set(embedded_postgres_pids())
    finally:
        tempfile.tempdir = session_dir
        shutil.rmtree(other_run, ignore_errors=True)
    assert len(theirs) == 1
    assert not theirs & ours
    assert embedded_postgres_pids(other_run) == []  # stopped with its context
