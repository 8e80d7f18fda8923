"""Adopting the harness: `plan-harness init DIR` writes examples/minimal, a project that
passes at once; its alembic.ini runs the migrations by hand; a mistake is one line and
leaves nothing behind; --fixtures and --scenarios are relative to --project-dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from harness.server.provisioning import ServerInfo
from support import SAMPLE_PROJECT, CliResult, run_cli


def cli(*args: str, cwd: Path | None = None) -> CliResult:
    """`plan-harness ARGS`, in this process (in `cwd` for the call)."""
    return run_cli(*args, cwd=cwd)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def test_init_writes_examples_minimal_and_it_passes_at_once(tmp_path: Path) -> None:
    # started from elsewhere, with a relative DIR, as a new user would
    written = cli("init", "new-project", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    project = tmp_path / "new-project"
    # one source of truth: examples/minimal is the packaged template (a symlink to it)
    written_files = tree(project)
    assert written_files.pop(".gitignore").decode().splitlines()[1:3] == [
        "reports/", ".plan-harness-cache/"]
    assert written_files == tree(SAMPLE_PROJECT)
    assert "plan-harness run --project-dir new-project" in written.stdout

    run = cli("run", "--project-dir", "new-project", "--plans-runs", "3", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 failed, 0 errors, 0 warnings, 2 passed" in run.stdout
    assert (project / "reports" / "index.html").is_file()


@pytest.mark.parametrize("in_the_way", ["scenarios/account_feed.toml", "fixtures"])
def test_init_overwrites_nothing_and_writes_nothing_when_refused(tmp_path: Path,
                                                                 in_the_way: str) -> None:
    (tmp_path / in_the_way).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / in_the_way).write_text("mine\n")
    before = tree(tmp_path)
    result = cli("init", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == (f"plan-harness: error: {tmp_path / in_the_way}: already exists; "
                             "init writes a new project and overwrites nothing (choose an "
                             "empty or new directory)\n")
    assert tree(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == [
        in_the_way.split("/")[0]]


def test_init_into_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    result = cli("init", str(tmp_path / "f"))
    assert (result.returncode, result.stderr) == (
        2, f"plan-harness: error: {tmp_path / 'f'}: exists and is not a directory\n")


def test_fixtures_and_scenarios_are_relative_to_the_project_dir(tmp_path: Path) -> None:
    project = tmp_path / "repo"
    assert cli("init", str(project)).returncode == 0
    (project / "fixtures").rename(project / "plans-fixtures")
    (project / "scenarios").rename(project / "plans-scenarios")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ok = cli("validate", "--project-dir", str(project), "--fixtures", "plans-fixtures",
             "--scenarios", "plans-scenarios", cwd=elsewhere)
    assert (ok.returncode, ok.stdout) == (0, "ok: 1 scenarios, 2 cases, profiles small\n")
    for args, message in [
        ((), f"--project-dir: {project} has no fixtures/ directory (plan-harness init DIR "
             "writes a project; --fixtures names another directory)"),
        (("--fixtures", "plans-fixtures"), f"--project-dir: {project} has no scenarios/ "
         "directory (plan-harness init DIR writes a project; --scenarios names another "
         "directory)"),
        (("--fixtures", "fixtures", "--scenarios", "plans-scenarios"),
         f"--fixtures: {project / 'fixtures'} is not a directory"),
    ]:
        result = cli("validate", "--project-dir", str(project), *args, cwd=elsewhere)
        assert (result.returncode, result.stderr) == (2, f"plan-harness: error: {message}\n")


@pytest.fixture
def empty_database(server: ServerInfo) -> Iterator[str]:
    """A database of its own on the test server, as a postgresql:// URL."""
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS by_hand")
        admin.execute("CREATE DATABASE by_hand")
    parts = conninfo_to_dict(server.admin_conninfo)
    # a socket directory goes in the query string: a URL's host cannot hold a path
    yield (f"postgresql://{parts['user']}@/by_hand?host={parts['host']}"
           f"&port={parts.get('port', 5432)}")
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        admin.execute("DROP DATABASE by_hand WITH (FORCE)")


def test_the_projects_alembic_ini_runs_its_migrations_by_hand(tmp_path: Path, server: ServerInfo,
                                                              empty_database: str) -> None:
    assert cli("init", str(tmp_path)).returncode == 0
    alembic = [sys.executable, "-m", "alembic"]
    up = subprocess.run([*alembic, "-x", f"dsn={empty_database}", "upgrade", "head"],
                        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    conninfo = make_conninfo(server.admin_conninfo, dbname="by_hand")
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
        assert conn.execute("SELECT to_regclass('ix_accounts_email') IS NOT NULL").fetchone() \
            == (True,)
    # PLAN_HARNESS_DSN stands in for -x dsn
    down = subprocess.run([*alembic, "downgrade", "0001"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PLAN_HARNESS_DSN": empty_database})
    assert down.returncode == 0, down.stderr
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    nowhere = subprocess.run([*alembic, "upgrade", "head"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120,
                             env={k: v for k, v in os.environ.items() if k != "PLAN_HARNESS_DSN"})
    assert nowhere.returncode == 1
    assert nowhere.stderr.strip().splitlines()[-1] == (
        "no database: give -x dsn=postgresql://user@host/dbname or set PLAN_HARNESS_DSN")
