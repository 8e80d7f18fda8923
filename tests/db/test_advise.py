"""`plan-harness advise` on a real server: every candidate kind built and measured on the
sample project, a rolled-back configuration leaving the database as it was, refused inputs
in one line (exit 2), Ctrl-C leaving no candidate index behind, and on the CSR project at
`ci` a migration that `compare` accepts with items improved and none regressed."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from harness.advise.trials import Bench
from harness.server.provisioning import HarnessDatabase, ServerInfo
from support import REPO, copy_sample_project, default_sigint, run_cli

CLI = [sys.executable, "-m", "harness.cli"]

COUNT_SCENARIO = '''
endpoint = "GET /clicks"
table = "events"
sql = """
SELECT count(*) FROM events
WHERE account_id = %(account_id)s AND created_at >= %(since)s AND kind = 'click'
"""

[expect]
index = "ix_events_account_id_created_at"

[[cases]]
name = "busiest account"
values = { account_id = "@busiest_account", since = "@last_event - 60 days" }
'''

FAST = ("--plans-profile", "small", "--plans-runs", "1", "--plans-warmup", "0",
        "--write-rows", "200", "--write-rounds", "1")


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    project = copy_sample_project(tmp_path / "project", "")
    (project / "scenarios" / "clicks.toml").write_text(COUNT_SCENARIO)
    return project


def test_every_candidate_kind_is_built_and_measured(sample: Path) -> None:
    reports = sample / "reports"
    result = run_cli("advise", "--project-dir", str(sample), "--plans-report-dir",
                     str(reports), "--max-size-ratio", "6", "--max-write-ratio", "3", *FAST)
    assert result.returncode == 0, result.stderr[-2000:]
    advice = json.loads((reports / "advice.json").read_text())
    kinds = {c["kind"] for c in advice["candidates"]}
    assert {"head", "generated", "covering", "partial", "reordered"} <= kinds, kinds
    partial = [c for c in advice["candidates"] if c["kind"] == "partial"]
    assert all("click" in c["where"] and "$" not in c["where"] for c in partial)
    tried = {t["index"] for r in advice["rounds"] for t in r["tried"]}
    for candidate in advice["candidates"]:
        if not candidate["constraint"]:
            assert candidate["built"]["size_bytes"] > 0, candidate
            assert candidate["name"] in tried, candidate["name"]
    # the estimated rank beside the measured one, per configuration tried
    assert all({"estimated_rank", "measured_rank"} <= set(t) for r in advice["rounds"]
               for t in r["tried"])
    assert advice["summary"]["gmean_buffers_chosen"] <= advice["summary"]["gmean_buffers_head"]
    assert "Recommendations" in (reports / "index.html").read_text()
    # an interrupted or repeated advise takes the measurements it kept
    again = run_cli("advise", "--project-dir", str(sample), "--plans-report-dir",
                    str(reports), "--max-size-ratio", "6", "--max-write-ratio", "3", *FAST)
    assert again.returncode == 0 and "resuming with" in again.stderr


def test_a_rolled_back_configuration_leaves_the_database_as_it_was(
        database: HarnessDatabase) -> None:
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, a int, b int)")
        conn.execute("CREATE INDEX ix_t_a ON t (a)")
        conn.execute("CREATE INDEX ix_t_b ON t (b) WHERE a > 0")

        def indexes() -> list[tuple[str, str]]:
            return conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE "
                                "tablename = 't' ORDER BY 1").fetchall()

        before = indexes()
        bench = Bench(conn, [], ["ix_t_a", "ix_t_b"], form=None)  # type: ignore[arg-type]
        with bench.applied(frozenset({"ix_t_b"})):
            assert [name for name, _ in indexes()] == ["ix_t_b", "t_pkey"]
        assert indexes() == before
        with pytest.raises(KeyboardInterrupt), bench.applied(frozenset()):
            assert [name for name, _ in indexes()] == ["t_pkey"]
            raise KeyboardInterrupt
        assert indexes() == before


def test_an_unknown_table_among_the_candidates_is_refused_in_one_line(sample: Path) -> None:
    manifest = sample / "fixtures" / "project.toml"
    manifest.write_text(manifest.read_text() + '\n[advise]\ncandidates = [{ name = "ix_x", '
                        'table = "nowhere", columns = ["a"] }]\n')
    result = run_cli("advise", "--project-dir", str(sample), "--plans-report-dir",
                     str(sample / "reports"), *FAST)
    assert result.returncode == 2
    error = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error) == 1 and "advise.candidates[0].table: no table named 'nowhere'" in error[0]


def test_a_budget_no_set_meets_is_refused_in_one_line(sample: Path) -> None:
    result = run_cli("advise", "--project-dir", str(sample), "--plans-report-dir",
                     str(sample / "reports"), "--max-size-ratio", "0.01", *FAST)
    assert result.returncode == 2
    error = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error) == 1 and "max_size_ratio 0.01: no set meets it" in error[0], result.stderr


def test_ctrl_c_leaves_no_candidate_index_behind(sample: Path, server: ServerInfo) -> None:
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        databases = {r[0] for r in admin.execute("SELECT datname FROM pg_database")}
    process = subprocess.Popen(
        [*CLI, "advise", "--project-dir", str(sample), "--plans-provider", "dsn",
         "--plans-dsn", server.admin_conninfo, "--plans-report-dir", str(sample / "reports"),
         "--max-size-ratio", "6", *FAST], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, preexec_fn=default_sigint)
    assert process.stderr is not None
    for line in process.stderr:
        if "candidate 2/" in line:
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        after = {r[0] for r in admin.execute("SELECT datname FROM pg_database")}
    assert after <= databases  # the run's own database is gone
    for name in after - {"template0"}:
        conninfo = psycopg.conninfo.make_conninfo(server.admin_conninfo, dbname=name)
        with psycopg.connect(conninfo) as conn:
            assert conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'ix_adv_%' "
                                "OR relname LIKE 'ix_events_account_id_created_at_%'"
                                ).fetchone() == (0,)


def test_csr_advice_migration_passes_compare(tmp_path: Path) -> None:
    """At ci: the advised migration, copied into the versions folder, makes compare exit 0
    with items improved and none regressed, latency judged as any compare judges it."""
    project = tmp_path / "csr"
    for part in ("fixtures", "scenarios"):
        shutil.copytree(REPO / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    reports = tmp_path / "advice"
    result = run_cli("advise", "--project-dir", str(project), "--plans-profile", "ci",
                     "--plans-runs", "1", "--plans-warmup", "0", "--write-rows", "500",
                     "--write-rounds", "1", "--plans-report-dir", str(reports))
    assert result.returncode == 0, result.stderr[-2000:]
    advice = json.loads((reports / "advice.json").read_text())
    assert advice["add"] and advice["summary"]["buffers_ratio"] > 1.5
    assert {p["name"] for p in advice["proposals"]} == {
        "ix_calls_company_id_lead_id", "ix_calls_company_id_contact_card_id_created_at",
        "ix_appointments_company_id_status_scheduled_start",
        "ix_calls_company_id_created_at_active"}
    migration = Path(advice["migration"])
    shutil.copy(migration, project / "fixtures" / "migrations" / "versions" / migration.name)
    compared = run_cli("compare", "--project-dir", str(project), "--base", advice["revision"],
                       "--plans-runs", "3", "--plans-warmup", "1",
                       "--plans-report-dir", str(tmp_path / "compare"), "--markdown-only")
    assert compared.returncode == 0, compared.stdout[-3000:]
    assert " 0 regressed" in compared.stdout and "improved" in compared.stdout, compared.stdout[:2000]
