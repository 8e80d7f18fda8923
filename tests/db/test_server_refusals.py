"""What only the server can tell is asked right after connecting, before any seeding: a
version without the statistics functions, a role that may not create the harness's database.
And a database the harness did not seed is labelled as such, with no profile's budgets."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from harness import cli
from harness.server.provisioning import ServerInfo
from support import CliResult, application_database, copy_sample_project, run_cli

# A literal % in a string is text: LIKE '%vie%' matches 'view'.
SEARCH_SCENARIO = '''
name = "kind_search"
table = "events"
sql = "SELECT * FROM events WHERE account_id = %(account_id)s AND kind LIKE '%vie%'"

[expect]
index = "ix_events_account_id_created_at"

[[cases]]
name = "account 7"
values = { account_id = 7 }
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy_sample_project(tmp_path, 'plans_profile = "small"\nplans_runs = 3\n')
    with (tmp_path / "fixtures" / "profiles.toml").open("a") as profiles:
        profiles.write('\n[big]\nprojected = { from = "small", scale = 10, onto = "small" }\n')
    return tmp_path


def harness_databases(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT datname FROM pg_database "
                            "WHERE datname LIKE 'plan_harness_%'").fetchall()
    return {str(r[0]) for r in rows}


@pytest.fixture
def role_without_createdb(server: ServerInfo) -> Iterator[str]:
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS ph_no_createdb")
        admin.execute("CREATE ROLE ph_no_createdb LOGIN NOCREATEDB")
    yield make_conninfo(server.admin_conninfo, user="ph_no_createdb")
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        admin.execute("DROP ROLE ph_no_createdb")


def test_a_role_without_createdb_is_refused_before_anything(
        server: ServerInfo, role_without_createdb: str, project: Path) -> None:
    before = harness_databases(server.admin_conninfo)
    result = run_cli("run", "--project-dir", str(project), "--plans-provider", "dsn",
                     "--plans-dsn", role_without_createdb)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("plan-harness: error: role ph_no_createdb at ")
    assert line.endswith(" lacks CREATEDB, and the harness creates its own database there: "
                         "ALTER ROLE ph_no_createdb CREATEDB, or plan against the DSN's own "
                         "database with --plans-allow-existing-db on")
    assert harness_databases(server.admin_conninfo) == before


def test_a_server_without_the_statistics_functions_is_refused_before_seeding(
        server: ServerInfo, project: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # No older server runs here: the same branch, with the bar raised above this server.
    monkeypatch.setattr("harness.server.needs.STATISTICS_MIN_VERSION", 990000)
    before = harness_databases(server.admin_conninfo)
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        code = cli.main(["run", "--project-dir", str(project), "--plans-profile", "big",
                         "--plans-provider", "dsn", "--plans-dsn", server.admin_conninfo])
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    err = capsys.readouterr().err
    assert code == 2
    (line,) = err.strip().splitlines()  # nothing captured, nothing seeded
    assert line.startswith("plan-harness: error: --plans-profile big (projected) needs "
                           "PostgreSQL 99 or later (pg_restore_relation_stats); this server "
                           "is 18.")
    assert harness_databases(server.admin_conninfo) == before


@pytest.fixture
def app_database(server: ServerInfo) -> Iterator[str]:
    """An application's own database: 20,000 events, analysed, and no harness mark."""
    with application_database(server, "app_labelled") as conninfo:
        yield conninfo


def run_existing(project: Path, conninfo: str, *args: str) -> CliResult:
    return run_cli("run", "--project-dir", str(project), "--plans-provider", "dsn",
                   "--plans-dsn", conninfo, "--plans-allow-existing-db", "on", *args)


def test_an_existing_database_is_labelled_and_not_budgeted(app_database: str,
                                                            project: Path) -> None:
    scenario = project / "scenarios" / "account_feed.toml"
    # a budget no real plan meets: applied, it would fail every item
    scenario.write_text(scenario.read_text().replace("shared_buffers = { small = 500 }",
                                                     "shared_buffers = { small = 1 }"))
    (project / "scenarios" / "kind_search.toml").write_text(SEARCH_SCENARIO)
    result = run_existing(project, app_database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("existing database, not loaded (rows: events 20,000); no profile budgets "
            "(--plans-existing-db-budgets=PROFILE for one's)") in result.stderr
    reports = project / "reports"
    run = json.loads((reports / "results.json").read_text())["run"]
    assert (run["existing_db"], run["profile"], run["row_counts"]) == (True, "", {"events": 20000})
    assert "<b>existing database, not loaded</b> (no profile budgets): events 20,000" in (
        reports / "index.html").read_text()
    assert "Existing database, not loaded (no profile budgets; rows: events 20,000)" in (
        reports / "summary.md").read_text()
    items = json.loads((reports / "results.json").read_text())["items"]
    search = next(i for i in items if i["scenario"] == "kind_search")
    assert search["modes"][0]["actual_rows"] == 400  # LIKE '%vie%' kept its % signs

    budgeted = run_existing(project, app_database, "--plans-existing-db-budgets=small")
    assert budgeted.returncode == 1
    assert "> budget 1 at profile small" in budgeted.stdout
    assert "budgets of profile small" in budgeted.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--plans-allow-existing-db", "on", "--plans-existing-db-budgets", "smal"),
     "--plans-existing-db-budgets: unknown profile 'smal' (known in "),
    (("--plans-existing-db-budgets", "small"),
     "--plans-existing-db-budgets needs --plans-allow-existing-db on"),
])
def test_existing_db_budgets_must_name_a_profile_of_an_existing_run(
        project: Path, args: tuple[str, ...], message: str) -> None:
    result = run_cli("run", "--project-dir", str(project), "--plans-provider", "dsn",
                     "--plans-dsn", "host=/nonexistent", *args)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"plan-harness: error: {message}")


def test_a_server_too_old_to_seed_is_refused_before_anything(
        server: ServerInfo, project: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # the same branch as for PostgreSQL 13, with the bar raised above this server
    monkeypatch.setattr("harness.server.needs.LOAD_MIN_VERSION", 990000)
    before = harness_databases(server.admin_conninfo)
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        code = cli.main(["run", "--project-dir", str(project), "--plans-provider", "dsn",
                         "--plans-dsn", server.admin_conninfo])
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("plan-harness: error: loading data needs PostgreSQL 99 or later (its "
                           "helper functions have SQL-standard bodies); this server is 18.")
    assert harness_databases(server.admin_conninfo) == before
