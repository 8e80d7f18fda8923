"""The CSR project on a local Citus cluster (a coordinator and two workers from the embedded
server with Citus built in) at the ci profile: every item judged, tasks held to the expected
index on most shards, a migration of the distributed chain that drops an index caught, the
cluster's own budgets, Ctrl-C while it loads; and a coordinator by DSN, with the refusals
that keep a single node from being judged as a cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.errors import PlanError
from harness.measure import citus
from harness.measure.explain import explain, prepare
from harness.server.citus import CitusProvider, LocalCluster, citus_home, read_json_as_text
from harness.server.datadirs import runs_root
from harness.server.providers import ServerOptions
from harness.server.provisioning import ServerInfo
from support import REPO, default_sigint, embedded_postgres_pids, run_cli

DROP_STATUS_INDEX = '''"""Drop the status index (a mutation for the tests).

Revision ID: 20250201000000
Revises: 20250130000000
"""

from alembic import op

revision = "20250201000000"
down_revision = "20250130000000"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_calls_company_id_status")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_calls_company_id_status ON calls (company_id, status)")
'''


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    report = tmp_path_factory.mktemp("citus-run")
    result = run_cli("run", "--plans-provider", "citus", "--plans-runs", "3",
                     "--plans-warmup", "1", "--plans-report-dir", str(report),
                     "--project-dir", str(REPO))
    document: dict[str, Any] = json.loads((report / "results.json").read_text())
    document["returncode"], document["output"] = result.returncode, result.stdout + result.stderr
    return document


def test_every_item_gets_a_verdict_and_none_errors(cluster_run: dict[str, Any]) -> None:
    items = cluster_run["items"]
    assert len(items) >= 60
    errors = [(i["id"], i["reason"]) for i in items if i["outcome"] == "error"]
    assert errors == []
    assert cluster_run["returncode"] in (0, 1), cluster_run["output"][-2000:]
    run = cluster_run["run"]
    assert run["server"].startswith("Citus ")
    assert run["profile"] == "ci@citus"
    # rows from the shards, not the coordinator's empty shells
    assert run["row_counts"]["calls"] == 300_000
    assert next(t for t in run["table_sizes"] if t["table"] == "calls")["rows"] >= 250_000
    assert {t["table"] for t in run["placement"]["tables"]} >= {"calls", "call_analysis"}
    # the planner settings as the workers show them
    assert run["planner_settings"]["random_page_cost"] == "1.1"


def test_tasks_are_held_to_the_expected_index_on_most_shards(
        cluster_run: dict[str, Any]) -> None:
    held: dict[str, list[int]] = {}
    for item in cluster_run["items"]:
        for finding in item["findings"]:
            if finding["check"] != "tasks":
                continue
            for table, judged, reading in re.findall(r"(\w+) (\d+) of (\d+)",
                                                     finding["message"]):
                counts = held.setdefault(table, [0, 0])
                counts[0] += int(judged)
                counts[1] += int(reading)
    assert set(held) >= {"calls", "appointments", "message_threads", "call_analysis"}
    for table, (judged, reading) in held.items():
        assert judged >= 0.8 * reading, (table, judged, reading)
    routers = [i for i in cluster_run["items"] if i["scenario"] == "dashboard_metrics"]
    assert all(any("router plan, 1 task" in f["message"] for f in i["findings"])
               for i in routers)


@pytest.fixture
def chain_dropping_the_status_index(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "fixtures", tmp_path / "fixtures", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    (tmp_path / "fixtures" / "migrations_citus" / "versions" /
     "20250201000000_drop_status_index.py").write_text(DROP_STATUS_INDEX)
    return tmp_path


def test_a_migration_of_the_distributed_chain_dropping_an_index_fails_naming_it(
        chain_dropping_the_status_index: Path) -> None:
    project = chain_dropping_the_status_index
    result = run_cli("compare", "--base", "20250130000000", "--head", "20250201000000",
                     "--plans-provider", "citus", "--plans-runs", "2", "--plans-warmup", "0",
                     "-k", "call_list_by_status", "--plans-report-dir", str(project / "out"),
                     "--project-dir", str(project))
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "ix_calls_company_id_status" in result.stdout
    assert "does not exist at revision 20250201000000" in result.stdout + result.stderr


def test_ctrl_c_while_the_cluster_loads_stops_every_node_and_cleans_up() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--plans-provider", "citus",
         "--plans-cache", "off",
         "--plans-report-dir", os.devnull + "-never"], cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    assert process.stderr is not None
    for line in process.stderr:
        if "distributed 8 tables" in line:
            break
    else:
        raise AssertionError(f"the cluster never loaded (exit {process.wait()})")
    nodes = [pid for pid in embedded_postgres_pids() if f"/{process.pid}-" in
             Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
    assert len(nodes) >= 3  # the coordinator, two workers (and the single-node build's)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in nodes)
    assert not [d for d in runs_root().iterdir() if d.name.startswith(f"{process.pid}-")]


@pytest.fixture(scope="module")
def coordinator() -> Iterator[str]:
    """A cluster someone else runs, as the DSN provider meets it: Citus in the coordinator's
    own database, with its workers added."""
    home = citus_home()
    assert home is not None
    with LocalCluster(home) as cluster:
        for node in (cluster.admin_conninfo, *cluster.workers):
            with psycopg.connect(node, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION citus")
        with psycopg.connect(cluster.admin_conninfo, autocommit=True) as conn:
            coordinator_host = psycopg.conninfo.conninfo_to_dict(cluster.admin_conninfo)["host"]
            conn.execute("SELECT citus_set_coordinator_host(%s, 5432)", [coordinator_host])
            for worker in cluster.workers:
                parts = psycopg.conninfo.conninfo_to_dict(worker)
                conn.execute("SELECT citus_add_node(%s, %s)", [parts["host"], 5432])
        yield cluster.admin_conninfo


def test_a_coordinator_by_dsn_gets_the_distributed_path(coordinator: str,
                                                        tmp_path: Path) -> None:
    result = run_cli("run", "--plans-provider", "citus", "--plans-dsn", coordinator,
                     "-k", "dashboard_metrics[largest", "--plans-runs", "2",
                     "--plans-warmup", "0", "--plans-report-dir", str(tmp_path),
                     "--project-dir", str(REPO))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["run"]["server"].startswith("Citus ")
    assert "coordinator with 2 workers" in document["run"]["server"]
    assert all(any("router plan, 1 task" in f["message"] for f in item["findings"])
               for item in document["items"])
    # the harness's database is gone from every node, workers included
    with psycopg.connect(coordinator) as conn:
        left = conn.execute("SELECT result FROM run_command_on_workers($$SELECT count(*) FROM "
                            "pg_database WHERE datname LIKE 'plan_harness_%'$$)").fetchall()
    assert [r[0] for r in left] == ["0", "0"]


def test_the_dsn_provider_refuses_a_server_that_loads_citus(coordinator: str) -> None:
    result = run_cli("run", "--plans-provider", "dsn", "--plans-dsn", coordinator,
                     "--project-dir", str(REPO))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "loads Citus 14.0" in line and "--plans-provider citus" in line


def test_the_citus_provider_refuses_a_server_without_citus(server: ServerInfo) -> None:
    result = run_cli("run", "--plans-provider", "citus", "--plans-dsn", server.admin_conninfo,
                     "--project-dir", str(REPO))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.endswith("does not load Citus (shared_preload_libraries lacks citus)"), line


def test_budgets_written_on_a_cluster_are_the_clusters_own(
        chain_dropping_the_status_index: Path) -> None:
    project = chain_dropping_the_status_index
    scenario = project / "scenarios" / "dashboard_metrics.toml"
    manifest = (project / "fixtures" / "project.toml").read_text()
    result = run_cli("budgets", "--write", "--plans-provider", "citus", "--plans-runs", "2",
                     "--plans-warmup", "0", "-k", "dashboard_metrics[largest",
                     "--project-dir", str(project))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "case budgets for profile ci@citus written to 1 scenario files" in result.stdout
    text = scenario.read_text()
    assert '"ci@citus"' in text
    assert (project / "fixtures" / "project.toml").read_text() == manifest  # canary kept
    assert run_cli("validate", "--project-dir", str(project)).returncode == 0
    # a run on the cluster is judged by them, a run on one node by its own
    report = project / "cluster-report"
    run_cli("run", "--plans-provider", "citus", "--plans-runs", "2", "--plans-warmup", "0",
            "-k", "dashboard_metrics[largest", "--plans-report-dir", str(report),
            "--project-dir", str(project))
    items = json.loads((report / "results.json").read_text())["items"]
    assert items and all(m["budget_shared_buffers"] is not None
                         for i in items for m in i["modes"])


def test_a_fresh_sessions_explain_execute_is_no_json_and_one_line_of_error(
        coordinator: str) -> None:
    """Re-checked on Citus 14.0.1: before any plain EXPLAIN on the session, the workers'
    plans of an EXPLAIN ANALYZE EXECUTE come back as text inside the JSON."""
    with psycopg.connect(coordinator, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS fresh_events")
        conn.execute("CREATE TABLE fresh_events (tenant int, id int, PRIMARY KEY (tenant, id))")
        conn.execute("SELECT create_distributed_table('fresh_events', 'tenant')")
        conn.execute("INSERT INTO fresh_events SELECT g % 7, g FROM generate_series(1, 700) g")
    sql = "SELECT count(*) FROM fresh_events WHERE tenant = $1"
    with psycopg.connect(coordinator, autocommit=True) as fresh:
        read_json_as_text(fresh)
        execute = prepare(fresh, sql)
        with pytest.raises(PlanError) as refused:
            explain(fresh, execute, [3], analyze=True)
        assert str(refused.value).startswith("EXPLAIN output is not JSON: ")
        assert "\n" not in str(refused.value)
    with psycopg.connect(coordinator, autocommit=True) as primed:
        CitusProvider(ServerOptions(provider="citus")).prepare_session(primed)
        execute = prepare(primed, sql)
        plan = explain(primed, execute, [3], analyze=True)
        assert [t.details["Shard Id"] is not None for t in citus.tasks(plan.root)] == [True]
        assert plan.shared_buffers > 0
