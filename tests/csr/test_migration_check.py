"""--plans-migration-check on the CSR schema at the ci scale: the seed's CONCURRENTLY
migration, applied while a writer inserts calls, passes; a plain CREATE INDEX on calls
blocks the writer for the whole build and fails the gate by name; an index left INVALID
fails it too. Per statement, the build time and the longest write wait are in results.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from support import REPO, CliResult, run_cli, validate_results

BUDGET_MS = 50  # at ci a plain index build on calls blocks inserts for about 270 ms; CONCURRENTLY for 0
EXTRA_MIGRATION = '''"""A careless follow-up migration: a plain CREATE INDEX on calls (a SHARE lock: inserts
wait for the whole build), and a concurrent unique build that fails and is swallowed, which
leaves an INVALID index behind.

Revision ID: 20250201000000
Revises: 20250130000000
"""

from alembic import op

revision = "20250201000000"
down_revision = "20250130000000"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_calls_status_created_at ON calls (status, created_at)")
    with op.get_context().autocommit_block():
        try:
            op.execute("CREATE UNIQUE INDEX CONCURRENTLY ux_calls_company_id ON calls (company_id)")
        except Exception:
            pass


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ux_calls_company_id")
    op.execute("DROP INDEX ix_calls_status_created_at")
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "fixtures", tmp_path / "fixtures", ignore=ignore)
    (tmp_path / "scenarios").mkdir()
    shutil.copy(REPO / "scenarios" / "top_objections.toml", tmp_path / "scenarios")
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\nplans_profile = \"ci\"\nplans_runs = 2\nplans_warmup = 0\n")
    return tmp_path


def run_check(project: Path) -> tuple[CliResult, dict[str, Any]]:
    result = run_cli("run", "--project-dir", str(project), "--plans-migration-check", "on",
                     "--plans-max-write-wait-ms", str(BUDGET_MS), "-k", "largest-tenant-7-days")
    document = json.loads((project / "reports" / "results.json").read_text())
    return result, document


def test_the_concurrent_index_migration_passes_under_writer(project: Path) -> None:
    result, document = run_check(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed, 0 errors" in result.stdout
    assert "; migration check passed" in result.stdout
    validate_results(document)
    migration = document["run"]["migration"]
    assert migration["failures"] == [] and migration["invalid_indexes"] == []
    assert migration["writes"] > 50 and migration["write_errors"] == []
    assert [s["revision"] for s in migration["steps"]] == ["20250130000000"]
    builds = [s for s in migration["statements"] if s["index"]]
    assert len(builds) == 9  # the tenth exists as the model's own index
    assert all(s["concurrently"] and s["max_write_wait_ms"] < BUDGET_MS for s in builds)
    assert {s["table"] for s in builds} == {"calls", "appointments", "message_threads"}
    html = (project / "reports" / "index.html").read_text()
    assert "Migration under a writer" in html


def test_a_blocking_build_and_an_invalid_index_fail_the_gate_by_name(project: Path) -> None:
    versions = project / "fixtures" / "migrations" / "versions"
    (versions / "20250201000000_careless.py").write_text(EXTRA_MIGRATION)
    result, document = run_check(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "migration check failed" in result.stdout
    blocking = [line for line in result.stdout.splitlines()
                if line.startswith("FAIL  migration 20250201000000: CREATE INDEX "
                                   "ix_calls_status_created_at ON calls")]
    assert len(blocking) == 1 and f"(budget {BUDGET_MS} ms)" in blocking[0]
    assert ("FAIL  migration to 20250201000000 left INVALID index ux_calls_company_id"
            in result.stdout)
    validate_results(document)
    migration = document["run"]["migration"]
    assert [s["revision"] for s in migration["steps"]] == ["20250130000000", "20250201000000"]
    assert migration["steps"][1]["max_write_wait_ms"] > BUDGET_MS
    plain = next(s for s in migration["statements"] if s["index"] == "ix_calls_status_created_at")
    assert not plain["concurrently"]
    # the writer waited for (nearly) the whole build
    assert plain["max_write_wait_ms"] >= 0.5 * plain["seconds"] * 1000
    summary = (project / "reports" / "summary.md").read_text()
    assert "ix_calls_status_created_at" in summary and "ux_calls_company_id" in summary
