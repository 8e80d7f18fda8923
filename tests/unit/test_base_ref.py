"""`compare --base-ref REF` names the base revision from the migrations as git has them at
REF (a pull request's target branch), without a checkout; a target that is ahead of the
request, or a ref git does not know, is one line and exit 2 before any server starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.build.base_ref import head_at_ref
from support import migration, run_cli

VERSIONS = Path("fixtures") / "migrations" / "versions"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An init'd project in git: `main` at 0002, `feature` adding 0003 on top of it."""
    root = tmp_path / "team"
    assert run_cli("init", str(root)).returncode == 0
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "main")
    git(root, "checkout", "-qb", "feature")
    (root / VERSIONS / "0003_drop.py").write_text(
        migration("0003", "0002", "DROP INDEX ix_events_account_id_created_at",
                  "SELECT 1", "drop the feed index"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feature")
    return root


def test_the_base_is_the_head_of_the_migrations_at_the_ref(project: Path) -> None:
    migrations = project / "fixtures" / "migrations"
    assert head_at_ref(migrations, "main") == "0002"
    assert head_at_ref(migrations, "feature") == "0003"


def test_a_target_ahead_of_the_request_is_one_line(project: Path) -> None:
    git(project, "checkout", "-q", "main")
    (project / VERSIONS / "0003_other.py").write_text(
        migration("0003b", "0002", "SELECT 1", "SELECT 1", "another change on main"))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "main moves on")
    git(project, "checkout", "-q", "feature")
    result = run_cli("compare", "--base-ref", "main", "--project-dir", str(project))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "plan-harness: error: --base-ref main: its head revision 0003b is not in this "
        "branch's migration chain up to head (rebase onto main)\n")


def test_an_unknown_ref_is_one_line(project: Path) -> None:
    result = run_cli("compare", "--base-ref", "origin/nosuch", "--project-dir", str(project))
    assert result.returncode == 2
    assert result.stderr.startswith("plan-harness: error: --base-ref origin/nosuch: git archive")
    assert len(result.stderr.splitlines()) == 1


def test_no_new_migration_is_nothing_to_compare(project: Path) -> None:
    result = run_cli("compare", "--base-ref", "feature", "--project-dir", str(project))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("no migration since feature (both at 0003)")
    assert not (project / "reports").exists()


def test_base_and_base_ref_exclude_each_other(project: Path) -> None:
    result = run_cli("compare", "--base", "0002", "--base-ref", "main")
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr
