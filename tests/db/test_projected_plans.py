"""Planning at a captured scale without the data (--plans-stats): statistics captured from
one database and loaded into a small one, whose relation files are padded with sparse zero
pages so the planner's row estimates and costs see the captured size."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_cli import cli, project  # noqa: F401  (the sample project fixture)

from harness.errors import ConfigError
from harness.server.provisioning import HarnessDatabase
from harness.statistics.capture import capture, read_statistics, scaled
from harness.statistics.fidelity import compare_documents
from harness.statistics.load import StatisticsLoader
from support import REPO, embedded_postgres_pids, run_cli, validate_results

SCALE = 1000


def _scan_rows(conn: psycopg.Connection[Any], query: str) -> float:
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + query).fetchone()[0][0]["Plan"]  # type: ignore[index]
    return float(plan["Plan Rows"])


@pytest.fixture
def small_table(database: HarnessDatabase) -> psycopg.Connection[Any]:
    conn = psycopg.connect(database.conninfo, autocommit=True)
    conn.execute("CREATE TABLE events (id bigint PRIMARY KEY, account_id int, note text)")
    conn.execute("INSERT INTO events SELECT g, g % 50, repeat('x', 40) "
                 "FROM generate_series(1, 20000) g")
    conn.execute("VACUUM ANALYZE events")
    yield conn
    conn.close()


def test_loaded_statistics_make_the_planner_see_the_captured_size(
        small_table: psycopg.Connection[Any], tmp_path: Path) -> None:
    conn = small_table
    real_rows = _scan_rows(conn, "SELECT * FROM events WHERE account_id = 7")
    statistics = scaled(capture(conn, "test"), SCALE, "test x1000")
    pages = next(r["relpages"] for r in statistics["relations"] if r["name"] == "events")
    StatisticsLoader(statistics, str(tmp_path / "stats.json"), lambda line: None).load(conn)

    assert _scan_rows(conn, "SELECT * FROM events WHERE account_id = 7") == pytest.approx(
        real_rows * SCALE, rel=0.01)
    size, path = conn.execute("SELECT pg_relation_size('events'), current_setting("
                              "'data_directory') || '/' || pg_relation_filepath('events')"
                              ).fetchone()  # type: ignore[misc]
    assert size == pages * 8192
    files = sorted(Path(path).parent.glob(Path(path).name + "*"))
    allocated = sum(f.stat().st_blocks * 512 for f in files)
    assert allocated < 4 * 1024 * 1024 < size  # holes, not written zeros
    # a second load (after a migration) changes nothing
    StatisticsLoader(statistics, str(tmp_path / "stats.json"), lambda line: None).load(conn)
    assert conn.execute("SELECT pg_relation_size('events')").fetchone() == (size,)


def test_an_index_the_file_does_not_know_is_sized_from_its_table(
        small_table: psycopg.Connection[Any], tmp_path: Path) -> None:
    conn = small_table
    statistics = scaled(capture(conn, "test"), SCALE, "test x1000")
    messages: list[str] = []
    loader = StatisticsLoader(statistics, str(tmp_path / "stats.json"), messages.append)
    loader.load(conn)
    conn.execute("CREATE INDEX ix_events_account ON events (account_id)")  # a migration
    loader.load(conn)
    (tuples, pages), = conn.execute(
        "SELECT reltuples, relpages FROM pg_class WHERE relname = 'ix_events_account'")
    assert tuples == pytest.approx(20000 * SCALE, rel=0.01)
    # about 19 pages at 20,000 rows: scaled with its table, and padded to that size
    assert 10 * SCALE < pages < 40 * SCALE
    assert conn.execute("SELECT pg_relation_size('ix_events_account') / 8192").fetchone() == (
        pages,)
    assert any(f"ix_events_account is not in {tmp_path / 'stats.json'}" in m for m in messages)
    assert conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'events'"
                        ).fetchone() == (pytest.approx(20000 * SCALE, rel=0.01),)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s["relations"].append({**s["relations"][0], "name": "nope"}),
     "relations[2]: no table named 'nope' in this database"),
    (lambda s: s["columns"].append({**s["columns"][0], "column": "nope"}),
     "no column events.nope in this database"),
    (lambda s: s["columns"][1].update(most_common_freqs=[2.5]),
     "PostgreSQL did not take all of these statistics"),
])
def test_statistics_of_another_schema_are_refused_in_one_line(
        small_table: psycopg.Connection[Any], tmp_path: Path, edit: Any, message: str) -> None:
    statistics = capture(small_table, "test")
    edit(statistics)
    path = tmp_path / "stats.json"
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        StatisticsLoader(statistics, str(path), lambda line: None).load(small_table)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not a statistics file (not JSON"),
    ('{"format": 1}', "not a statistics file (no 'relations'"),
    ('{"format": 9, "relations": []}', "format: 9 is not 1"),
    ('{"format": 1, "relations": [{"name": "t", "kind": "view"}]}', "relations[0].relpages"),
    ('{"format": 1, "relations": [], "anchors": {"a": {"value": 1}}}', "anchors.a.value"),
])
def test_a_corrupted_statistics_file_is_one_line(tmp_path: Path, content: str,
                                                 message: str) -> None:
    path = tmp_path / "stats.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        read_statistics(path)
    assert str(error.value).startswith(f"{path}: ")


def _captured(project: Path, tmp_path: Path, *args: str) -> dict[str, Any]:  # noqa: F811
    out = tmp_path / "captured.json"
    result = cli(project, "stats", "capture", "--out", str(out), *args)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def test_a_projected_run_plans_only_with_the_captured_anchors_and_is_a_preview(
        project: Path, tmp_path: Path) -> None:  # noqa: F811
    statistics = scaled(_captured(project, tmp_path), SCALE, "small x1000")
    assert statistics["anchors"]["busiest_account"]["type"] == "integer"
    statistics["anchors"]["busiest_account"]["value"] = "31"  # not the small data's busiest
    stats = tmp_path / "big.json"
    stats.write_text(json.dumps(statistics))
    before = set(embedded_postgres_pids())

    result = cli(project, "run", "--plans-stats", str(stats), "--plans-revision", "0001")

    assert result.returncode == 0, result.stdout + result.stderr  # failures are warnings
    assert "statistics of small x1000 loaded" in result.stderr
    document = json.loads((project / "reports" / "results.json").read_text())
    validate_results(document)
    assert document["run"]["statistics"]["preview"] == "yes"
    items = {item["id"]: item for item in document["items"]}
    busiest = items["account_feed[busiest-account-30-days]"]
    assert busiest["params"]["account_id"] == "31"
    assert all(m["p95_ms"] is None and m["actual_rows"] is None for m in busiest["modes"])
    assert busiest["outcome"] == "warn"  # no index at 0001: a failure, shown as a preview
    assert any(f["message"].startswith("preview, not gating: ") for f in busiest["findings"])
    summary = (project / "reports" / "summary.md").read_text()
    assert "a preview: not verified against the real database" in summary
    assert set(embedded_postgres_pids()) <= before

    statistics["fidelity"] = {"onto": "small", "revision": "0001", "compared": 4, "agreed": 4,
                              "checked_at": "x"}
    stats.write_text(json.dumps(statistics))
    gating = cli(project, "run", "--plans-stats", str(stats), "--plans-revision", "0001")
    assert gating.returncode == 1, gating.stdout + gating.stderr  # verified: failures gate
    # verified at another revision, or with a plan that disagreed: a preview again
    for fidelity in ({"revision": "0002"}, {"agreed": 3}):
        statistics["fidelity"].update({"revision": "0001", "agreed": 4, **fidelity})
        stats.write_text(json.dumps(statistics))
        preview = cli(project, "run", "--plans-stats", str(stats), "--plans-revision", "0001")
        assert preview.returncode == 0, preview.stdout + preview.stderr


def test_compare_with_loaded_statistics_loads_them_again_after_migrating(
        project: Path, tmp_path: Path) -> None:  # noqa: F811
    statistics = scaled(_captured(project, tmp_path), SCALE, "small x1000")
    stats = tmp_path / "big.json"
    stats.write_text(json.dumps(statistics))
    result = cli(project, "compare", "--base", "0001", "--plans-stats", str(stats))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count("statistics of small x1000 loaded") == 2
    head = json.loads((project / "reports" / "results.json").read_text())
    assert head["run"]["revision"] == "0002"
    for item in head["items"]:
        assert item["outcome"] == "pass", item["findings"]


def test_a_statistics_file_with_an_unknown_table_is_one_line_and_leaves_nothing(
        project: Path, tmp_path: Path) -> None:  # noqa: F811
    statistics = _captured(project, tmp_path)
    statistics["relations"].append({**statistics["relations"][0], "name": "invoices"})
    stats = tmp_path / "other.json"
    stats.write_text(json.dumps(statistics))
    before = set(embedded_postgres_pids())
    result = cli(project, "run", "--plans-stats", str(stats))
    assert result.returncode == 2
    assert set(embedded_postgres_pids()) <= before
    assert not (project / "reports").exists()
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"plan-harness: error: {stats}: relations[")
    assert "no table named 'invoices'" in line
    assert "Traceback" not in result.stderr


def test_the_stats_option_is_refused_with_an_existing_database(project: Path) -> None:  # noqa: F811
    result = run_cli("run", "--project-dir", str(project), "--plans-stats", "x.json",
                     "--plans-provider", "dsn", "--plans-dsn", "host=/nowhere",
                     "--plans-allow-existing-db", "on")
    assert result.returncode == 2
    assert "cannot be used with --plans-allow-existing-db on" in result.stderr


def test_a_projected_profile_plans_its_source_scaled_on_a_small_database(
        project: Path) -> None:  # noqa: F811
    with (project / "fixtures" / "profiles.toml").open("a") as profiles:
        profiles.write('\n[huge]\ndescription = "small x1000, never seeded"\n'
                       '[huge.projected]\nfrom = "small"\nscale = 1000\nonto = "small"\n')
    result = cli(project, "run", "--plans-profile", "huge")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "profile huge: capturing the statistics of profile small" in result.stderr
    assert "statistics of profile small x1000" in result.stderr
    document = json.loads((project / "reports" / "results.json").read_text())
    assert document["run"]["profile"] == "huge"
    assert document["run"]["statistics"]["preview"] == "yes"
    assert document["run"]["statistics"]["file"].endswith("profiles.toml: huge")
    relations = {t["table"]: t for t in document["run"]["table_sizes"]}
    assert relations["events"]["heap_bytes"] > 1000 * 100 * 1024  # the padded, captured size
    for item in document["items"]:
        assert all(m["p95_ms"] is None for m in item["modes"])


@pytest.mark.parametrize(("projected", "message"), [
    ('from = "nope"\nscale = 10\nonto = "small"', "huge.projected.from: 'nope' is not a built"),
    ('from = "small"\nscale = 0\nonto = "small"', "huge.projected.scale: 0.0 is not above 0"),
    ('from = "small"\nscale = 10', "huge.projected.onto: missing"),
    ('from = "small"\nscale = 10\nonto = "small"\ntables = { invoices = 1 }',
     "huge.projected.tables.invoices: no table 'invoices' in profile small"),
])
def test_a_projected_profile_that_cannot_be_planned_is_one_line(
        project: Path, projected: str, message: str) -> None:  # noqa: F811
    with (project / "fixtures" / "profiles.toml").open("a") as profiles:
        profiles.write(f"\n[huge]\n[huge.projected]\n{projected}\n")
    result = cli(project, "run", "--plans-profile", "huge")
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("plan-harness: error: ") and message in line, line


def test_scaling_keeps_the_tables_that_do_not_grow() -> None:
    statistics = {"relations": [
        {"name": "accounts", "kind": "table", "table": None, "relpages": 2, "reltuples": 100.0,
         "relallvisible": 2},
        {"name": "accounts_pkey", "kind": "index", "table": "accounts", "relpages": 3,
         "reltuples": 100.0, "relallvisible": 0},
        {"name": "events", "kind": "table", "table": None, "relpages": 50,
         "reltuples": 5000.0, "relallvisible": 40}], "columns": [],
        "fidelity": {"onto": "small", "revision": "1", "compared": 2, "agreed": 2}}
    result = scaled(statistics, 10, "x10", {"accounts": 1})
    assert "fidelity" not in result  # verified at one size is not verified at another
    grown = {r["name"]: r for r in result["relations"]}
    assert grown["accounts"]["reltuples"] == 100 and grown["accounts_pkey"]["relpages"] == 3
    assert grown["events"] == {**statistics["relations"][2], "relpages": 500,
                               "reltuples": 50000.0, "relallvisible": 400}


def test_the_committed_capacity_statistics_plan_the_ci_database_as_capacity(
        tmp_path: Path) -> None:
    """fixtures/stats/capacity.json: captured from the real capacity database and verified
    there (plan-harness stats stamp), so it gates. At ci alone the largest tenant's
    custom plan walks the date-only index; at capacity it does not."""
    result = run_cli("run", "--plans-stats", "fixtures/stats/capacity.json",
                     "--plans-report-dir", str(tmp_path), cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads((tmp_path / "results.json").read_text())
    validate_results(document)
    assert document["run"]["statistics"]["preview"] == "no"
    assert "132 of 132 plans agreed" in document["run"]["statistics"]["fidelity"]
    assert document["counts"]["fail"] == 0
    assert document["counts"]["pass"] + document["counts"]["warn"] == 66
    item = next(i for i in document["items"]
                if i["id"] == "dashboard_metrics[largest-tenant-90-days]")
    custom = next(m for m in item["modes"] if m["mode"] == "custom")
    assert custom["indexes_used"] == ["ix_calls_company_id_created_at"]
    assert custom["p95_ms"] is None


def test_a_server_older_than_the_statistics_functions_is_one_line(
        small_table: psycopg.Connection[Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No older server runs here: the same branch, with the bar raised above this one.
    monkeypatch.setattr("harness.server.needs.STATISTICS_MIN_VERSION", 990000)
    statistics = scaled(capture(small_table, "test"), SCALE, "x1000")
    with pytest.raises(ConfigError, match=r"^--plans-stats needs PostgreSQL 99 or later "
                                          r"\(pg_restore_relation_stats\); this server is 18\."):
        StatisticsLoader(statistics, "stats.json", lambda line: None).load(small_table)
    assert small_table.execute("SELECT reltuples FROM pg_class WHERE relname = 'events'"
                               ).fetchone() == (20000,)  # nothing was loaded


def test_an_anchor_that_fails_at_capture_names_the_project_file(
        project: Path, tmp_path: Path) -> None:  # noqa: F811
    manifest = project / "fixtures" / "project.toml"
    manifest.write_text(manifest.read_text().replace(
        'last_event = "SELECT max(created_at) FROM events"',
        'last_event = "SELECT max(created) FROM events"'))
    result = cli(project, "stats", "capture", "--out", str(tmp_path / "s.json"))
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"plan-harness: error: {manifest}: anchors.last_event: "), line
    assert 'column "created" does not exist' in line
    assert not (tmp_path / "s.json").exists()


def _document(*items: tuple[str, str, str, float]) -> dict[str, Any]:
    """A results document whose items read `events` by (node type, index) at a cost."""
    return {"items": [{"id": item, "modes": [{
        "mode": mode, "estimated_rows": 10.0,
        "plan": {"Plan": {"Node Type": "Limit", "Total Cost": cost, "Plans": [
            {"Node Type": node, "Relation Name": "events", "Index Name": index}]}}}]}
        for item, mode, (node, index), cost in
        ((i[0], i[1], i[2].split(":"), i[3]) for i in items)]}


def test_fidelity_counts_agreement_and_names_each_disagreement() -> None:
    real = _document(("a", "custom", "Index Scan:ix_a", 100.0),
                     ("b", "custom", "Index Scan:ix_b", 50.0),
                     ("c", "generic", "Seq Scan:", 10.0))
    projected = _document(("a", "custom", "Index Scan:ix_a", 200.0),
                          ("b", "custom", "Index Scan:ix_a", 50.0),
                          ("d", "generic", "Seq Scan:", 10.0))
    fidelity = compare_documents(real, projected)
    assert (fidelity.compared, fidelity.agreed) == (2, 1)
    (wrong,) = fidelity.disagreements
    assert (wrong.item, wrong.real, wrong.projected) == (
        "b", "Index Scan using ix_b on events", "Index Scan using ix_a on events")
    assert sorted(fidelity.missing) == ["c generic", "d generic"]
    assert fidelity.cost_summary() == {"median_ratio": 2.0, "worst_factor": 2.0}
    assert compare_documents(real, real).agreement == 1.0


def test_an_anchor_the_file_lacks_or_cannot_type_is_one_line(
        small_table: psycopg.Connection[Any]) -> None:
    statistics = {"anchors": {"day": {"value": "2024-06-01", "type": "date"},
                              "odd": {"value": "x", "type": "no_such_type"},
                              "bad": {"value": "June", "type": "date"}}}
    loader = StatisticsLoader(statistics, "s.json", lambda line: None)
    assert str(loader.anchor(small_table, "day")) == "2024-06-01"
    for name, message in (("busiest", "s.json: anchors: no value of @busiest"),
                          ("odd", "s.json: anchors.odd.type: no type 'no_such_type'"),
                          ("bad", "s.json: anchors.bad.value: invalid input syntax")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            loader.anchor(small_table, name)
