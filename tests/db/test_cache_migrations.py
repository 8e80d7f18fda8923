"""A migration pull request reuses the seeded data: a database is keyed by the migrations up
to its own revision, so a new later migration neither invalidates it nor re-seeds; the run
at the new head starts from a copy of the kept database below it and applies only the new
migration; pruning by last use keeps what runs still use."""

from __future__ import annotations

import os
import time
from pathlib import Path

from test_cache import cache_cli, cache_dir, project, run  # noqa: F401  (fixtures)

from harness.build.cache import BuildCache
from support import migration

NEW_MIGRATION = migration("0003", "0002", "CREATE INDEX ix_events_created_at ON events (created_at)",
                          "DROP INDEX ix_events_created_at", "a second index")


def test_a_new_migration_runs_on_a_copy_of_the_kept_database(
        project: Path, cache_dir: Path) -> None:  # noqa: F811
    first = run(project, cache_dir)
    assert first.returncode == 0, first.stderr
    (project / "fixtures" / "migrations" / "versions" / "0003_second_index.py").write_text(
        NEW_MIGRATION)
    head = run(project, cache_dir)
    assert head.returncode == 0, head.stderr
    assert "load events" not in head.stderr
    assert "starting from kept database" in head.stderr and "at revision 0002" in head.stderr
    assert "migrating 0002 -> 0003" in head.stderr
    base = run(project, cache_dir, "--plans-revision", "0002")
    assert "reusing the built database" in base.stderr  # still valid beside the new migration
    revisions = sorted(e.inputs["revision"] for e in BuildCache(cache_dir).entries())
    assert revisions == ["0001", "0002", "0003"]


def test_prune_unused_since_keeps_what_was_used_after(
        project: Path, cache_dir: Path) -> None:  # noqa: F811
    assert run(project, cache_dir).returncode == 0
    entries = BuildCache(cache_dir).entries()
    past = time.time() - 3600
    for entry in entries:
        os.utime(entry.path, (past, past))
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 5))
    assert "reusing the built database" in run(project, cache_dir).stderr  # uses 0002 only
    assert cache_cli(cache_dir, "prune", "--unused-since", started).startswith(
        "removed 1 entries")
    assert [e.inputs["revision"] for e in BuildCache(cache_dir).entries()] == ["0002"]
