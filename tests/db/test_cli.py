"""`plan-harness run` and `validate` on the sample project: the main job for people outside
pytest, with the same settings and exit codes the README documents."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from support import (
    TESTS,
    CliResult,
    copy_sample_project,
    embedded_postgres_pids,
    migration,
    run_cli,
    validate_results,
)

JOIN_SCENARIO = TESTS / "data" / "join_scenarios" / "account_activity.toml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The sample project at profile small. Its built database is kept in the session's
    cache (PLAN_HARNESS_CACHE_DIR, set by conftest.py): seeded once, reused by every test."""
    return copy_sample_project(tmp_path, 'plans_profile = "small"\nplans_runs = 3\n')


def cli(project: Path, *args: str) -> CliResult:
    """`plan-harness ARGS --project-dir PROJECT`, in this process."""
    return run_cli(*args, "--project-dir", str(project))


def test_run_seeds_checks_and_writes_the_report(project: Path) -> None:
    before = set(embedded_postgres_pids())
    # the cache off: this run seeds (and says so), whatever ran before it
    result = cli(project, "run", "--plans-cache", "off")
    assert result.returncode == 0, result.stderr
    assert "PASS  account_feed[busiest-account-30-days]" in result.stdout
    assert "0 failed, 0 errors, 0 warnings, 2 passed" in result.stdout
    assert "plan-harness: load events: 20,000/20,000 rows" in result.stderr
    document = json.loads((project / "reports" / "results.json").read_text())
    assert document["run"]["profile"] == "small"  # read from pyproject.toml
    assert document["run"]["revision"] == "0002"
    assert set(embedded_postgres_pids()) <= before


def test_run_exits_1_when_a_check_fails_and_says_why(project: Path) -> None:
    result = cli(project, "run", "--plans-revision", "0001", "-k", "fixed")
    assert result.returncode == 1
    assert "FAIL  account_feed[account-7-fixed-date]" in result.stdout
    assert "FAIL index: custom plan did Seq Scan on events" in result.stdout
    assert "1 failed, 0 errors, 0 warnings, 0 passed" in result.stdout


def test_k_that_selects_nothing_is_an_error(project: Path) -> None:
    result = cli(project, "run", "-k", "nothing-like-this")
    assert result.returncode == 2
    assert result.stderr.strip() == ("plan-harness: error: -k 'nothing-like-this' selects no "
                                     "scenario case")


def test_validate_checks_files_without_a_database(project: Path) -> None:
    result = cli(project, "validate")
    assert result.returncode == 0
    assert result.stdout.strip() == "ok: 1 scenarios, 2 cases, profiles small"
    (project / "scenarios" / "bad.toml").write_text('table = "events"\n')
    result = cli(project, "validate")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("bad.toml: sql: missing")


def test_a_schema_without_the_generators_table_is_one_line(project: Path) -> None:
    migration = project / "fixtures" / "migrations" / "versions" / "0001_events.py"
    migration.write_text(migration.read_text().replace("CREATE TABLE events", "CREATE TABLE evts"))
    before = set(embedded_postgres_pids())
    result = cli(project, "run")
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("plan-harness: error: ")
    assert error.endswith('datagen.py: loading profile small failed: relation "events" does not '
                          "exist (the data is loaded at the load revision 0001, "
                          f"schema.load_revision in {project / 'fixtures' / 'project.toml'}: "
                          "events must be created at or before it)")
    assert "Traceback" not in result.stderr
    assert set(embedded_postgres_pids()) <= before


DROP_INDEX = migration(
    "0003", "0002", "DROP INDEX ix_events_account_id_created_at",
    "CREATE INDEX ix_events_account_id_created_at ON events (account_id, created_at)",
    "drop the feed index again (a regression)")


def test_compare_runs_base_then_head_on_one_database(project: Path) -> None:
    result = cli(project, "compare", "--base", "0001", "--head", "0002")
    assert result.returncode == 0, result.stderr
    assert "migrating 0001 -> 0002" in result.stderr
    assert "Compared with revision `0001`" in result.stdout
    assert "0 regressed, 2 improved" in result.stdout
    base = json.loads((project / "reports" / "base" / "results.json").read_text())
    head = json.loads((project / "reports" / "results.json").read_text())
    assert (base["run"]["revision"], head["run"]["revision"]) == ("0001", "0002")
    assert {i["outcome"] for i in base["items"]} == {"fail"}
    assert {i["outcome"] for i in head["items"]} == {"pass"}
    assert base["run"]["seed"] == head["run"]["seed"]


def test_compare_exits_1_and_lists_the_regressions(project: Path) -> None:
    versions = project / "fixtures" / "migrations" / "versions"
    (versions / "0003_drop_index.py").write_text(DROP_INDEX)
    result = cli(project, "compare", "--base", "0002", "--head", "0003")
    assert result.returncode == 1, result.stderr
    summary = result.stdout.split("\n## plan-harness: ", 1)[1]
    # one line for the cause, then the items it broke
    assert "\n- ix_events_account_id_created_at dropped: 2 items regressed, buffers " in summary
    assert summary.count("ix_events_account_id_created_at") == 1, summary
    assert "| account_feed[busiest-account-30-days] | pass -> fail | Seq Scan on events |" in (
        summary)
    assert "Seq Scan on events instead of using ix_events_account_id_created_at" in (
        result.stdout)
    assert "2 regressed, 0 improved" in summary


@pytest.mark.parametrize(("args", "message"), [
    (("--base", "nope"), "unknown revision 'nope'"),
    (("--base", "0002", "--head", "0001"), "revision 0001 is not after 0002: nothing to migrate"),
])
def test_compare_bad_revisions_are_one_line(project: Path, args: tuple[str, ...],
                                            message: str) -> None:
    before = set(embedded_postgres_pids())
    result = cli(project, "compare", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("plan-harness: error: ") and message in lines[-1]
    assert set(embedded_postgres_pids()) <= before


def test_baseline_is_written_then_compared(project: Path) -> None:
    baseline = project / "plans-baseline.toml"
    written = cli(project, "run", "--plans-baseline", str(baseline),
                  "--plans-update-baseline", "on")
    assert written.returncode == 0, written.stderr
    text = baseline.read_text()
    assert len(text.splitlines()) < 80 and "costs" in text.lower()
    assert '[items."account_feed[account-7-fixed-date]".custom]' in text
    assert '    "Index Scan using ix_events_account_id_created_at on events",' in text
    # the indexes' definitions and each mode's budgets are recorded beside the figures
    assert ('"ix_events_account_id_created_at" = "INDEX ON public.events USING btree '
            '(account_id, created_at)"') in text
    assert "budget_shared_buffers = 500" in text and "budget_p95_ms = 1000.0" in text
    same = cli(project, "run", "--plans-baseline", str(baseline))
    assert same.returncode == 0, same.stdout
    assert "buffers_grew" not in same.stdout and "plan_shape" not in same.stdout


def test_a_plan_that_regresses_against_the_baseline_fails(project: Path) -> None:
    baseline = project / "plans-baseline.toml"
    assert cli(project, "run", "--plans-baseline", str(baseline),
               "--plans-update-baseline", "on").returncode == 0
    result = cli(project, "run", "--plans-baseline", str(baseline), "--plans-revision", "0001")
    assert result.returncode == 1
    assert "FAIL buffers_grew: custom plan reads more: " in result.stdout
    assert ("(baseline plans-baseline.toml), beyond 1.5x and +32; plan no longer Index Scan "
            "using ix_events_account_id_created_at on events, now Sort; Seq Scan on events") in (
        result.stdout)


def test_an_improvement_against_the_baseline_is_reported(project: Path) -> None:
    baseline = project / "plans-baseline.toml"
    assert cli(project, "run", "--plans-baseline", str(baseline), "--plans-update-baseline",
               "on", "--plans-revision", "0001").returncode == 1  # the old plans fail checks
    result = cli(project, "run", "--plans-baseline", str(baseline))
    assert result.returncode == 0, result.stdout
    document = json.loads((project / "reports" / "results.json").read_text())
    improved = [f["message"] for i in document["items"] for f in i["findings"]
                if f["check"] == "buffers_shrank"]
    assert len(improved) == 4 and all("plan reads less" in m for m in improved)


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such baseline file"),
    ("[baseline\n", "not a readable baseline"),
    ("[baseline]\nformat = 7\n", "baseline.format: not a plan-harness baseline of format 1 or 2"),
    ('[baseline]\nformat = 1\nprofile = "dev"\n',
     "baseline.profile: 'dev', but this run is at profile 'small'"),
    ('[baseline]\nformat = 1\nprofile = "small"\ntables = ["calls"]\n',
     "baseline.tables: calls not in this schema"),
])
def test_a_bad_baseline_is_one_line(project: Path, content: str | None, message: str) -> None:
    baseline = project / "plans-baseline.toml"
    if content is not None:
        baseline.write_text(content)
    result = cli(project, "run", "--plans-baseline", str(baseline))
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"plan-harness: error: {baseline}: ") and message in error


def test_update_baseline_needs_a_file(project: Path) -> None:
    result = cli(project, "run", "--plans-update-baseline", "on")
    assert result.returncode == 2
    assert result.stderr.strip() == ("plan-harness: error: --plans-update-baseline on needs "
                                     "--plans-baseline FILE")


def test_a_p95_over_budget_is_measured_again_before_it_fails(project: Path) -> None:
    scenario = project / "scenarios" / "account_feed.toml"
    scenario.write_text(scenario.read_text().replace("p95_ms = { small = 1000 }",
                                                     "p95_ms = { small = 0.0001 }"))
    result = cli(project, "run", "-k", "fixed")
    assert result.returncode == 1
    assert "FAIL p95: custom plan p95" in result.stdout
    assert "info p95_remeasured: first measurement: custom plan p95" in result.stdout


def test_compare_with_two_heads_in_the_migrations_is_one_line(project: Path) -> None:
    versions = project / "fixtures" / "migrations" / "versions"
    for branch in ("a", "b"):
        (versions / f"0003{branch}.py").write_text(
            f'"""branch {branch}\n\nRevision ID: 0003{branch}\n"""\nrevision = "0003{branch}"\n'
            'down_revision = "0002"\nbranch_labels = None\ndepends_on = None\n\n\n'
            "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n")
    result = cli(project, "compare", "--base", "0001")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("plan-harness: error: unknown revision 'head' in ")
    assert "Multiple head revisions are present" in line
    assert not (project / "reports").exists()


def test_stats_capture_writes_the_planner_statistics(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "stats" / "small.json"
    result = cli(project, "stats", "capture", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"written to {out}")
    statistics = json.loads(out.read_text())
    assert statistics["format"] == 1 and "profile small, seed 1" in statistics["source"]
    relations = {r["name"]: r for r in statistics["relations"]}
    assert relations["events"]["reltuples"] == 20000 and relations["events"]["relpages"] > 0
    assert relations["ix_events_account_id_created_at"]["table"] == "events"
    columns = {(c["table"], c["column"]): c for c in statistics["columns"]}
    account = columns[("events", "account_id")]
    assert account["most_common_vals"].startswith("{") and account["most_common_freqs"]
    assert columns[("events", "created_at")]["histogram_bounds"].startswith('{"2024-')


def test_stats_capture_to_an_unwritable_place_is_one_line(project: Path) -> None:
    result = cli(project, "stats", "capture", "--out", "/proc/nope/stats.json")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "plan-harness: error: /proc/nope/stats.json: cannot write the statistics")


DROP_COLUMN = migration(
    "0003", "0002", "ALTER TABLE events DROP COLUMN kind",
    "ALTER TABLE events ADD COLUMN kind text NOT NULL DEFAULT 'open'",
    "drop a column a scenario reads (a regression that makes the item error)")
KIND_SCENARIO = '''endpoint = "GET /feed/kinds"
table = "events"
sql = "SELECT kind, count(*) FROM events WHERE account_id = %(a)s GROUP BY kind"
[expect]
index = "ix_events_account_id_created_at"
[[cases]]
name = "account 7"
values = { a = 7 }
'''


def test_an_item_that_errors_only_at_head_is_a_regression(project: Path) -> None:
    (project / "fixtures" / "migrations" / "versions" / "0003_drop_kind.py").write_text(
        DROP_COLUMN)
    (project / "scenarios" / "feed_kinds.toml").write_text(KIND_SCENARIO)
    result = cli(project, "compare", "--base", "0002", "--head", "0003", "-k", "feed_kinds")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ERROR head feed_kinds[account-7]: error: " in result.stdout
    assert 'column "kind" does not exist' in result.stdout
    assert "\n## plan-harness: 0 failed, 1 errors, 0 warnings, 0 passed" in result.stdout
    assert "\n- error: sql: column \"kind\" does not exist" in result.stdout
    assert "| feed_kinds[account-7] | pass -> error | error: scenarios/feed_kinds.toml: sql: " \
           "column \"kind\" does not exist" in result.stdout
    head = json.loads((project / "reports" / "results.json").read_text())
    assert head["counts"]["error"] == 1 and head["items"][0]["outcome"] == "error"
    html = (project / "reports" / "index.html").read_text()
    assert "Items that could not be measured" in html and "feed_kinds[account-7]" in html


def test_sql_that_fails_everywhere_exits_2_and_is_reported(project: Path) -> None:
    (project / "scenarios" / "feed_kinds.toml").write_text(
        KIND_SCENARIO.replace("GROUP BY kind", "GROUP BY kindd"))
    result = cli(project, "run")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "0 failed, 1 errors, 0 warnings, 2 passed" in result.stdout
    summary = (project / "reports" / "summary.md").read_text()
    assert '\n- error: sql: column "kindd" does not exist: 1 item errored' in summary
    assert "Every item passed." not in summary
    assert '| error | error: scenarios/feed_kinds.toml: sql: column "kindd" does not exist |' in (
        summary)
    both = cli(project, "compare", "--base", "0001", "--head", "0002", "-k", "feed_kinds")
    assert both.returncode == 2, both.stdout + both.stderr
    assert "Broken at both revisions" in both.stdout


def test_mutation_proof_catches_the_index_of_the_other_side_of_a_join(project: Path) -> None:
    shutil.copy(JOIN_SCENARIO, project / "scenarios")
    result = cli(project, "mutation-proof", "--plans-runs", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((project / "reports" / "mutation-proof.json").read_text())
    verdicts = {m["index"]: m for m in document["mutations"]}
    assert set(verdicts) == {"ix_accounts_email", "ix_events_account_id_created_at"}
    email = verdicts["ix_accounts_email"]
    assert email["verdict"] == "caught"
    assert "custom: index" in email["failing"]["account_activity[busiest-account-30-days]"]
    assert "| ix_accounts_email | drop | accounts | caught |" in result.stdout
    unknown = cli(project, "mutation-proof", "--index", "ix_nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1].startswith(
        "plan-harness: error: --index ix_nope: no such index at head")


def test_budgets_proposes_and_writes_per_case_budgets(project: Path) -> None:
    proposed = cli(project, "budgets")
    assert proposed.returncode == 0, proposed.stderr
    assert "2 budgets proposed for profile small" in proposed.stdout
    # the cases' own lines (a comment may name [[cases]] too)
    assert "budget" not in (project / "scenarios" / "account_feed.toml").read_text().split(
        "\n[[cases]]", 1)[1]
    written = cli(project, "budgets", "--write")
    assert written.returncode == 0, written.stderr
    text = (project / "scenarios" / "account_feed.toml").read_text()
    assert text.count("budget.shared_buffers = { small = ") == 2
    assert "canary_ms = " in (project / "fixtures" / "project.toml").read_text()
    assert cli(project, "run").returncode == 0


def test_against_a_baseline_an_error_or_a_missing_item_is_a_regression(project: Path) -> None:
    baseline = project / "plans-baseline.toml"
    (project / "scenarios" / "feed_kinds.toml").write_text(KIND_SCENARIO)
    assert cli(project, "run", f"--plans-baseline={baseline}",
               "--plans-update-baseline=on").returncode == 0
    (project / "fixtures" / "migrations" / "versions" / "0003_drop_kind.py").write_text(
        DROP_COLUMN)
    errored = cli(project, "run", f"--plans-baseline={baseline}")
    assert errored.returncode == 1, errored.stdout + errored.stderr
    assert "ERROR feed_kinds[account-7]: error: " in errored.stdout
    (project / "scenarios" / "feed_kinds.toml").unlink()
    missing = cli(project, "run", f"--plans-baseline={baseline}")
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "FAIL  feed_kinds[account-7]: in the baseline, no longer in the scenarios" in (
        missing.stdout)
    assert "Missing against the baseline (regressions): feed_kinds[account-7]" in (
        project / "reports" / "summary.md").read_text()


def test_capacity_review_measures_everything_in_one_run(project: Path) -> None:
    result = cli(project, "capacity-review", "--before", "0001")  # --base's older name
    assert result.returncode == 0, result.stderr
    assert "FAIL  base account_feed[account-7-fixed-date]" in result.stdout
    assert "PASS  head account_feed[account-7-fixed-date]" in result.stdout
    # the causes lead; the claims table is there (no claims in this project: "-")
    assert result.stdout.index(" added: 2 items improved") < result.stdout.index(
        "### Endpoints, claimed and measured")
    # no figure of the policy or the runs printed as a placeholder ("beyond N.5x and +N")
    html = (project / "reports" / "index.html").read_text()
    assert re.search(r"\bN\b", result.stdout + html) is None
    document = json.loads((project / "reports" / "results.json").read_text())
    validate_results(document)
    run = document["run"]
    assert run["capacity_review"]["before_revision"] == "0001"
    assert json.loads((project / "reports" / "base" / "results.json").read_text()
                      )["run"]["revision"] == "0001"
    cost = run["write_cost"]
    # the migration adds one index on events, beside the primary key
    assert (cost["table"], cost["indexes_without"], cost["indexes_with"]) == ("events", 1, 2)
    assert cost["rows_per_second_with"] > 0 and cost["rows_per_second_without"] > 0
    growth = run["index_growth"]
    assert growth["rows_before"] == 20_000 and growth["rows_inserted"] > 0
    assert {i["index"] for i in growth["indexes"]} == {"events_pkey",
                                                        "ix_events_account_id_created_at"}
    assert all(i["after_month_bytes"] >= i["fresh_bytes"] for i in growth["indexes"])
    assert "plan-harness capacity-review --base 0001" in cost["command"]
    html = (project / "reports" / "index.html").read_text()
    assert "Endpoint performance, claimed and measured" in html
    assert "Write cost</h3>" in html and "Index growth after a month of events" in html


def test_capacity_review_without_a_writer_is_one_line(project: Path) -> None:
    manifest = project / "fixtures" / "project.toml"
    text = manifest.read_text()
    manifest.write_text(text[:text.index("# `plan-harness capacity-review`")])
    before = set(embedded_postgres_pids())
    result = cli(project, "capacity-review")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("plan-harness: error: ")
    assert "project.toml: capacity_review: missing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # refused before a server started
    manifest.write_text(text.replace("write_rows = 500", "write_rows = 0"))
    result = cli(project, "capacity-review")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("capacity_review.write_rows: must be at least 1, not 0")
    manifest.write_text(text)  # the sample project has no migration check writer
    result = cli(project, "capacity-review", "--plans-migration-check", "on")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("project.toml: migration_check.writer: missing "
                                          "(--plans-migration-check on needs the INSERT it "
                                          "repeats)")
    assert set(embedded_postgres_pids()) <= before


@pytest.mark.parametrize(("field", "old", "new"), [
    ("growth", "created_at + interval '30 days'", "created_at + interval '30 dayz'"),
    ("writer", "kind, created_at FROM capacity_source", "kind, nothing FROM capacity_source"),
])
def test_a_capacity_statement_the_server_rejects_is_one_line(project: Path, field: str,
                                                             old: str, new: str) -> None:
    manifest = project / "fixtures" / "project.toml"
    assert old in manifest.read_text()
    manifest.write_text(manifest.read_text().replace(old, new))
    before = set(embedded_postgres_pids())
    result = cli(project, "capacity-review", "--plans-runs", "1", "--plans-warmup", "0")
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"plan-harness: error: {manifest}: capacity_review.{field}: "), last
    assert "Traceback" not in result.stderr
    assert set(embedded_postgres_pids()) <= before


def test_report_history_draws_each_item_over_the_runs(project: Path, tmp_path: Path) -> None:
    history = tmp_path / "history"
    for number, revision in enumerate(("0001", "0002")):
        report_dir = history / f"run{number}"
        result = cli(project, "run", "--plans-revision", revision,
                     "--plans-report-dir", str(report_dir))
        assert result.returncode in (0, 1), result.stderr
    result = run_cli("report", "--history", str(history))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"history of 4 item plan modes over 2 runs: "
                                     f"{history / 'history.html'}")
    html = (history / "history.html").read_text()
    assert html.count('<svg class="spark"') == 8  # buffers and p50 per item plan mode
    # the index cut each item's buffers: shown as drift below 1
    assert html.count('class="better">x0.') >= 4
    # one truncated run (a copy cut short) is left out with one line naming it
    run1 = history / "run1" / "results.json"
    run1.write_text(run1.read_text()[:500])
    result = run_cli("report", "--history", str(history))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"plan-harness: skipped {run1}: not valid JSON (")
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout.strip().startswith("history of 4 item plan modes over 1 runs: ")
    (history / "run0" / "results.json").write_text("{}")
    result = run_cli("report", "--history", str(history))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"plan-harness: error: {history}: no readable results.json under it "
        f"({history / 'run0' / 'results.json'}: not a plan-harness results file (no "
        "schema_version))")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("report", "--history", str(empty))
    assert (result.returncode, result.stderr.strip()) == (
        2, f"plan-harness: error: {empty}: no results.json under it")
