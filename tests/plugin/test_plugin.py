"""The pytest plugin end to end through pytester, on examples/minimal: a schema that is
not the CSR one, so the engine is shown to know nothing of it. Pytest runs in this process
(pytester's in-process run), except where two workers (xdist) need processes of their own."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import pytest

from support import TESTS, copy_sample_project, embedded_postgres_pids, validate_results

CONFTEST = """
from pathlib import Path

HERE = Path(__file__).parent


def pytest_plans_locations(config):
    return {"scenarios": HERE / "scenarios", "fixtures": HERE / "fixtures"}
"""
# The runs keep their built database in the session's cache (PLAN_HARNESS_CACHE_DIR, set by
# conftest.py): seeded once for all of them. The run that shows the load turns the cache off.
INI = "[pytest]\nplans_profile = small\nplans_runs = 3\nplans_warmup = 1\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    copy_sample_project(pytester.path)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    return pytester


def results(project: pytest.Pytester) -> dict[str, object]:
    return json.loads((project.path / "reports" / "results.json").read_text())  # type: ignore[no-any-return]


def test_scenario_cases_are_items_marked_plans(project: pytest.Pytester) -> None:
    result = project.runpytest_inprocess("-m", "plans", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["scenarios/account_feed.toml::account_feed[busiest-account-30-days]",
                                 "scenarios/account_feed.toml::account_feed[account-7-fixed-date]",
                                 "2 tests collected*"])
    assert result.ret == 0


def test_a_passing_run_writes_the_report_and_junit(project: pytest.Pytester) -> None:
    before = set(embedded_postgres_pids())
    result = project.runpytest_inprocess("-m", "plans", "--junitxml=junit.xml",
                                         "--plans-cache", "off")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["plan-harness: server: embedded PostgreSQL *",
                                 "plan-harness: load events: 20,000/20,000 rows*",
                                 "plan-harness: ready in *", "report: */reports/index.html"])
    document = results(project)
    assert document["counts"] == {"pass": 2, "warn": 0, "fail": 0, "error": 0,  # type: ignore[index]
                                  "plans_differ": 0}
    result.stdout.fnmatch_lines(["*- plan-harness: 0 failed, 0 errors, 0 warnings, 2 passed -*"])
    item = document["items"][0]  # type: ignore[index]
    assert [m["indexes_used"] for m in item["modes"]] == [["ix_events_account_id_created_at"]] * 2
    sizes = {s["index"]: s for s in document["run"]["index_sizes"]}  # type: ignore[index]
    feed = sizes["ix_events_account_id_created_at"]
    assert feed["table_rows"] == 20000 and feed["size_bytes"] > 0
    assert feed["bytes_per_row"] == round(feed["size_bytes"] / 20000, 2)
    assert feed["projected_bytes"] is None  # the sample project declares no projection
    assert "<html" in (project.path / "reports" / "index.html").read_text()
    assert 'tests="2"' in (project.path / "junit.xml").read_text()
    assert set(embedded_postgres_pids()) <= before


def test_k_selects_items_and_x_stops_at_the_first_failure(project: pytest.Pytester) -> None:
    result = project.runpytest_inprocess("-m", "plans", "-k", "fixed")
    result.assert_outcomes(passed=1)
    result = project.runpytest_inprocess("-m", "plans", "-x", "--plans-revision", "0001")
    result.assert_outcomes(failed=1)


def test_a_failure_names_scenario_params_expected_index_and_what_happened(
        project: pytest.Pytester) -> None:
    before = set(embedded_postgres_pids())
    result = project.runpytest_inprocess("-m", "plans", "--plans-revision", "0001")
    result.assert_outcomes(failed=2)
    assert set(embedded_postgres_pids()) <= before  # failed tests leave no server either
    result.stdout.fnmatch_lines([
        "account_feed[busiest-account-30-days] (scenarios/account_feed.toml) GET /feed",
        "  params: account_id=1, since=datetime.datetime(*",
        "  expected: ix_events_account_id_created_at on events",
        "  custom plan: Seq Scan on events, * shared buffers, p95 * ms",
        "  FAIL index_missing: */scenarios/account_feed.toml: expect.index: "
        "ix_events_account_id_created_at does not exist at revision 0001",
        "  FAIL index: custom plan did Seq Scan on events instead of using "
        "ix_events_account_id_created_at",
        "  FAIL seq_scan: custom plan has Seq Scan on events (20,000 rows > threshold 1,000)",
        "  FAIL forbidden_node: custom plan has a Sort (Sort Key: created_at DESC)*",
    ])


def test_a_blown_budget_fails_with_the_number(project: pytest.Pytester) -> None:
    scenario = project.path / "scenarios" / "account_feed.toml"
    scenario.write_text(scenario.read_text().replace("shared_buffers = { small = 500 }",
                                                     "shared_buffers = { small = 1 }"))
    result = project.runpytest_inprocess("-m", "plans", "-k", "busiest")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  FAIL shared_buffers: custom plan touched * shared buffers "
                                 "> budget 1 at profile small"])


def test_a_malformed_scenario_is_a_collection_error_naming_the_field(
        project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "broken.toml").write_text(
        'table = "events"\nsql = "SELECT %(a)s"\n[expect]\nindex = "x"\n'
        '[[cases]]\nname = "n"\nvalues = { b = 1 }\n')
    result = project.runpytest_inprocess("-m", "plans")
    result.stdout.fnmatch_lines(["*broken.toml: cases[[]0].values.a: missing (the SQL uses it)*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.no_fnmatch_line("plan-harness: load*")  # no database for a run that stops


def test_an_unknown_table_fails_the_item_with_file_and_field(project: pytest.Pytester) -> None:
    scenario = project.path / "scenarios" / "account_feed.toml"
    # the SQL names it too: a `table` the SQL does not name is refused before the run
    scenario.write_text(scenario.read_text().replace("events", "evnts"))
    result = project.runpytest_inprocess("-m", "plans", "-k", "fixed")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*account_feed.toml: table: no table named 'evnts' exists*"])


@pytest.mark.parametrize(("args", "message"), [
    (["--plans-provider", "nope"], "ERROR: plan-harness: --plans-provider: unknown value "
                                   "'nope' (choose from embedded, dsn, testcontainers, citus, or "
                                   "give module:Class)"),
    (["--plans-profile", "huge"], "ERROR: plan-harness: unknown profile 'huge'*"),
    (["--plans-revision", "0009"], "ERROR: plan-harness: unknown revision '0009'*"),
    (["--plans-provider", "dsn", "--plans-dsn", "host=127.0.0.1 port=1"],
     "ERROR: plan-harness: cannot connect to --plans-dsn*"),
])
def test_bad_options_are_one_line_usage_errors(project: pytest.Pytester, args: list[str],
                                               message: str) -> None:
    result = project.runpytest_inprocess("-m", "plans", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_missing_docker_skips_when_asked(project: pytest.Pytester,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = project.runpytest_inprocess("-m", "plans", "--plans-provider", "testcontainers",
                                          "--plans-on-missing-docker", "skip", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*Docker is not available for the testcontainers provider*"])
    # the report still says what happened, rather than leaving an earlier run's in place
    document = results(project)
    validate_results(document)
    assert document["items"] == [] and document["counts"]["pass"] == 0  # type: ignore[index]
    note = document["run"]["note"]  # type: ignore[index]
    assert note.startswith("No plan item ran: every selected item was skipped (Docker is "
                           "not available for the testcontainers provider")
    assert html.escape(note) in (project.path / "reports" / "index.html").read_text()
    result = project.runpytest_inprocess("-m", "plans", "--plans-provider", "testcontainers")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: plan-harness: Docker is not available*"])


def test_a_run_that_selects_no_plan_item_leaves_the_report_as_it_was(
        project: pytest.Pytester) -> None:
    """`pytest -m "not db"` (or -k matching no case) runs no plan item: an earlier run's
    report is not replaced by an empty one, and a report directory is not created."""
    before = set(embedded_postgres_pids())
    result = project.runpytest_inprocess("-m", "plans", "-k", "nothing-matches")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["plan-harness: no plan item ran (-m/-k selected none of the 2 "
                                 "collected); */reports left as it was"])
    result.stdout.no_fnmatch_line("report: *")
    assert not (project.path / "reports").exists()
    earlier = project.path / "reports" / "summary.md"
    earlier.parent.mkdir()
    earlier.write_text("an earlier run\n")
    result = project.runpytest_inprocess("-m", "not plans")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert [p.name for p in earlier.parent.iterdir()] == ["summary.md"]
    assert earlier.read_text() == "an earlier run\n"
    assert set(embedded_postgres_pids()) <= before  # no server for nothing to run


def test_without_a_project_the_plugin_collects_nothing(pytester: pytest.Pytester) -> None:
    test_file = pytester.makepyfile("def test_ok():\n    pass\n")
    (pytester.path / "x.toml").write_text("not = 'a scenario'\n")
    # no conftest names a project: the TOML file is no scenario file and yields no item
    items, _ = pytester.inline_genitems()
    assert [item.nodeid for item in items] == [f"{test_file.name}::test_ok"]
    assert not any(item.get_closest_marker("plans") for item in items)
    result = pytester.runpytest_inprocess("-m", "plans")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["*1 deselected*"])
    result.stdout.no_fnmatch_line("plan-harness: *")  # no server started
    result.stdout.no_fnmatch_line("report: *")  # no report written
    pytester.runpytest_inprocess().assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()  # and no report written


def test_settings_come_from_the_ini_file(project: pytest.Pytester) -> None:
    project.makeini(INI.replace("plans_profile = small", "plans_profile = huge"))
    result = project.runpytest_inprocess("-m", "plans")
    result.stderr.fnmatch_lines(["ERROR: plan-harness: unknown profile 'huge'*"])


def test_report_dir_option(project: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    project.runpytest_inprocess("-m", "plans", "-k", "fixed", "--plans-report-dir",
                                 str(out)).assert_outcomes(passed=1)
    assert (out / "results.json").exists() and (out / "index.html").exists()


def test_base_revision_runs_base_then_migrates_and_compares(project: pytest.Pytester) -> None:
    result = project.runpytest_inprocess("-m", "plans", "--plans-base-revision", "0001")
    result.assert_outcomes(passed=2)  # the items run at head; the base run is not items
    result.stdout.fnmatch_lines(["plan-harness: migrating 0001 -> 0002"])
    base = json.loads((project.path / "reports" / "base" / "results.json").read_text())
    assert base["run"]["revision"] == "0001"
    assert {i["outcome"] for i in base["items"]} == {"fail"}
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "Compared with revision `0001`" in summary and "0 regressed, 2 improved" in summary


def test_migration_check_is_an_item_ahead_of_the_plans(project: pytest.Pytester) -> None:
    project.path.joinpath("fixtures", "project.toml").write_text(
        project.path.joinpath("fixtures", "project.toml").read_text()
        + '\n[migration_check]\nwriter = "INSERT INTO events (id, account_id, kind, created_at) '
          'SELECT max(id) + 1, 7, \'click\', \'2020-01-01\' FROM events"\n')
    result = project.runpytest_inprocess("-m", "plans", "-v", "--plans-migration-check", "on")
    result.stdout.fnmatch_lines(["*migration 0002: writes waited for locks up to*",
                                 "::plans-migration-check PASSED*",
                                 "scenarios/account_feed.toml::account_feed*PASSED*"])
    result.assert_outcomes(passed=3)


def test_two_workers_build_once_and_give_the_serial_verdicts(project: pytest.Pytester,
                                                             tmp_path: Path) -> None:
    cache = ["--plans-cache", "on", "--plans-cache-dir", str(tmp_path / "cache")]
    serial = project.runpytest_inprocess("-m", "plans", *cache, "-p", "no:xdist")
    serial.assert_outcomes(passed=2)
    serial_verdicts = {i["id"]: i["outcome"] for i in results(project)["items"]}  # type: ignore[index]
    shutil.rmtree(tmp_path / "cache")
    parallel = project.runpytest_subprocess("-m", "plans", "-n", "2", *cache)  # xdist workers
    parallel.assert_outcomes(passed=2)
    parallel.stdout.fnmatch_lines(["report: */reports/index.html"])
    document = results(project)
    assert {i["id"]: i["outcome"] for i in document["items"]} == serial_verdicts  # type: ignore[index]
    workers = document["run"]["workers"]  # type: ignore[index]
    assert len(workers) == 2
    assert sorted(w["cache"].split()[0] for w in workers) == ["reused", "stored"]  # built once
    assert sum(w["items"] for w in workers) == 2
    assert not (project.path / "reports" / ".workers").exists()  # merged, then removed


def test_options_that_need_one_process_are_refused_with_workers(
        project: pytest.Pytester) -> None:
    result = project.runpytest_inprocess("-m", "plans", "-n", "2", "--plans-base-revision",
                                          "0001")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--plans-base-revision and --plans-update-baseline need a "
                                 "single process; run without -n*"])


def test_an_item_that_errors_is_counted_and_shown_with_its_reason(
        project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "broken.toml").write_text(
        'table = "events"\nsql = "SELECT nope FROM events WHERE account_id = %(a)s"\n'
        '[expect]\nindex = "ix_events_account_id_created_at"\n'
        '[[cases]]\nname = "one"\nvalues = { a = 1 }\n')
    (project.path / "scenarios" / "joined.toml").write_text(
        (TESTS / "data" / "join_scenarios" / "account_activity.toml")
        .read_text())
    result = project.runpytest_inprocess("-m", "plans", "--plans-revision", "0001", "-k",
                                          "broken or joined")
    result.assert_outcomes(failed=2)
    lines = result.stdout.str().splitlines()
    summary_line = next(i for i, line in enumerate(lines)
                        if "- plan-harness: 1 failed, 1 errors, 0 warnings, 0 passed -" in line)
    error, failure = lines[summary_line + 1], lines[summary_line + 2]
    assert error.startswith("ERROR broken[one]: error: ")
    assert error.endswith('broken.toml: sql: column "nope" does not exist')
    assert failure.startswith("FAIL  joined[busiest-account-30-days]: index_missing: ")
    assert failure.endswith("joined.toml: expect.index: ix_events_account_id_created_at does "
                            "not exist at revision 0001")
    document = results(project)
    assert document["counts"]["error"] == 1  # type: ignore[index]
    summary = (project.path / "reports" / "summary.md").read_text()
    assert "error: sql: column \"nope\" does not exist: 1 item errored" in summary
    assert "Every item passed." not in summary
