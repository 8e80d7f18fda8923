"""--plans-allow-existing-db: against a database the harness did not create, nothing is
created, migrated or seeded; the session is read-only, a statement that writes is planned
(EXPLAIN) and never run, and every query runs under a statement timeout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.server.provisioning import ServerInfo
from support import application_database, copy_sample_project, run_cli

UPDATE_SCENARIO = '''
name = "mark_seen"
endpoint = "POST /feed/seen"
table = "events"
sql = "UPDATE events SET kind = 'seen' WHERE account_id = %(account_id)s AND created_at >= %(since)s"

[expect]
index = "ix_events_account_id_created_at"

[[cases]]
name = "account 7"
values = { account_id = 7, since = 2024-01-10T00:00:00Z }
'''


@pytest.fixture
def app_database(server: ServerInfo) -> Iterator[str]:
    """An application's own database: its schema and rows, and no harness mark."""
    with application_database(server, "app_existing") as conninfo:
        yield conninfo


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy_sample_project(tmp_path, 'plans_profile = "small"\nplans_runs = 3\n')
    (tmp_path / "scenarios" / "mark_seen.toml").write_text(UPDATE_SCENARIO)
    return tmp_path


def state(conninfo: str) -> tuple[object, ...]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT count(*), count(*) FILTER (WHERE kind <> 'view') "
                            "FROM events").fetchone()
        databases = conn.execute("SELECT array_agg(datname ORDER BY datname) "
                                 "FROM pg_database").fetchone()
    assert rows is not None and databases is not None
    return (*rows, tuple(databases[0]))


def test_existing_database_is_planned_read_only(app_database: str, project: Path) -> None:
    before = state(app_database)
    result = run_cli("run", "--project-dir", str(project), "--plans-provider", "dsn",
                     "--plans-dsn", app_database, "--plans-allow-existing-db", "on")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "planning against the existing database, read-only" in result.stderr
    assert "0 failed, 0 errors, 0 warnings, 3 passed" in result.stdout
    assert state(app_database) == before  # no row changed, no database created
    document = json.loads((project / "reports" / "results.json").read_text())
    settings = document["run"]["planner_settings"]
    assert settings["default_transaction_read_only"] == "on"
    assert settings["statement_timeout"] == "1min"
    update = next(i for i in document["items"] if i["scenario"] == "mark_seen")
    for mode in update["modes"]:
        assert mode["indexes_used"] == ["ix_events_account_id_created_at"]
        assert mode["p50_ms"] is None and mode["actual_rows"] is None  # planned, never run
    select = next(i for i in document["items"] if i["scenario"] == "account_feed")
    assert all(m["p50_ms"] is not None for m in select["modes"])  # reads still measured


def test_allow_existing_db_needs_the_dsn_provider(project: Path) -> None:
    result = run_cli("run", "--project-dir", str(project), "--plans-allow-existing-db", "on")
    assert result.returncode == 2
    assert result.stderr.strip() == ("plan-harness: error: --plans-allow-existing-db on needs "
                                     "--plans-provider dsn")


def test_stats_capture_from_an_existing_database_changes_nothing(app_database: str,
                                                                project: Path) -> None:
    before = state(app_database)
    out = project / "app-stats.json"
    result = run_cli("stats", "capture", "--out", str(out), "--project-dir", str(project),
                     "--plans-provider", "dsn", "--plans-dsn", app_database,
                     "--plans-allow-existing-db", "on")
    assert result.returncode == 0, result.stderr
    assert state(app_database) == before
    statistics = json.loads(out.read_text())
    assert "revision (no alembic_version)" in statistics["source"]
    assert {r["name"] for r in statistics["relations"]} == {
        "events", "events_pkey", "ix_events_account_id_created_at"}
