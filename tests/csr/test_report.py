"""The report: results.json against its JSON Schema, the HTML and Markdown renderers on real
runs of the CSR scenarios, re-rendering and comparing saved runs, reading bad results files,
and escaping of what scenario files and parameters put on the page."""

from __future__ import annotations

import copy
import datetime as dt
import json
import platform
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.measure.capacity import duplicates_and_redundancy
from harness.report.analysis import (
    compare,
    histogram,
    inline_params,
    plan_tree,
    usage_matrix,
)
from harness.report.output import SCHEMA_VERSION, read_results, rerender
from harness.report.render import SUMMARY_MAX_LINES, md_cell
from harness.server.provisioning import HarnessDatabase
from support import (
    BEFORE_INDEXES,
    REPO,
    SAMPLE_PROJECT,
    CsrRun,
    plan_sample,
    run_cli,
    validate_results,
)

# --- the results document --------------------------------------------------------------------

def test_real_results_validate_against_the_published_schema(csr_head: CsrRun,
                                                            csr_before: CsrRun) -> None:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    for run in (csr_head, csr_before):
        validate_results(run.document)
        assert run.document["schema_version"] == SCHEMA_VERSION
        environment = run.document["run"]["environment"]
        assert environment["git_commit"] == commit
        assert environment["python"] == platform.python_version()
        assert environment["psycopg"] == psycopg.__version__
        assert environment["postgresql"] == run.document["run"]["server_version"]
        assert environment["harness"] == run.document["harness_version"]
        assert 0 < environment["duration_seconds"] < 900


def test_the_schema_rejects_what_it_should(csr_head: CsrRun) -> None:
    broken = copy.deepcopy(csr_head.document)
    broken["items"][0]["outcome"] = "maybe"
    with pytest.raises(AssertionError, match="outcome"):
        validate_results(broken)


def test_a_version_1_file_is_migrated_on_read(csr_head: CsrRun, tmp_path: Path) -> None:
    old = copy.deepcopy(csr_head.document)
    old["schema_version"] = 1
    for key in ("table_sizes", "endpoint_claims", "write_cost", "migration", "environment"):
        del old["run"][key]
    for index in old["run"]["index_sizes"]:
        for key in ("method", "unique", "primary", "valid", "predicate", "columns", "include",
                    "definition"):
            del index[key]
    for item in old["items"]:
        for mode in item["modes"]:
            for key in ("samples_ms", "indexes_all", "estimated_rows", "actual_rows"):
                del mode[key]
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old))
    migrated = read_results(path)
    assert migrated["schema_version"] == SCHEMA_VERSION
    validate_results(migrated)
    first = csr_head.document["items"][0]["modes"][0]
    assert migrated["items"][0]["modes"][0]["estimated_rows"] == first["estimated_rows"]
    assert migrated["items"][0]["modes"][0]["actual_rows"] == first["actual_rows"]
    assert not usage_matrix(migrated).known
    assert migrated["run"]["environment"]["git_commit"] == "unknown"
    assert migrated["run"]["environment"]["duration_seconds"] is None
    assert migrated["run"]["environment"]["postgresql"] == old["run"]["server_version"]
    paths = rerender(path, tmp_path / "out")
    assert "no index definitions (schema version 1)" in paths.html.read_text()


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such results file"),
    ("{\"schema_version\": 2, \"run\": {}, ", "not valid JSON (Expecting"),
    ("[1, 2]", "not a plan-harness results file (no schema_version)"),
    ("{\"schema_version\": 99}", "schema_version 99 is newer than this plan-harness reads"),
    ("{\"schema_version\": 2, \"run\": {}, \"items\": [{\"id\": \"a\"}]}",
     "items[0].scenario: missing"),
])
def test_a_bad_results_file_is_one_line_naming_it(tmp_path: Path, content: str | None,
                                                  message: str) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    result = run_cli("report", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"plan-harness: error: {path}: ")
    assert message in lines[0]
    assert not (tmp_path / "index.html").exists()


# --- views computed from results -------------------------------------------------------------

def test_plan_tree_marks_the_node_with_the_most_time_of_its_own() -> None:
    tree = plan_tree(plan_sample("seq_scan_sort.json")[0])  # type: ignore[index]
    nodes = list(tree.walk())
    costliest = [n for n in nodes if n.costliest]
    assert len(costliest) == 1
    assert costliest[0].self_ms == max(n.self_ms or 0 for n in nodes)
    assert sum(n.share for n in nodes) == pytest.approx(1.0)
    assert all(n.self_ms is not None and n.self_ms >= 0 for n in nodes)


def test_histogram_names_a_far_budget_instead_of_squeezing_the_samples() -> None:
    near = histogram([1.0, 1.1, 1.2, 2.0], {"p50": 1.15, "budget": 2.5})
    assert near is not None and near.off_chart == []
    assert [name for name, _, _ in near.markers] == ["p50", "budget"]
    far = histogram([1.0, 1.1, 1.2, 2.0], {"p50": 1.15, "budget": 30.0})
    assert far is not None and far.off_chart == [("budget", 30.0)]
    assert far.high_ms == 2.0
    assert sum(b.count for b in far.bars) == 4
    assert histogram([], {}) is None


def index(name: str, *columns: str, **extra: Any) -> dict[str, Any]:
    return {"index": name, "table": "t", "method": "btree", "predicate": None,
            "columns": list(columns), "include": [], "unique": False, "primary": False, **extra}


def test_duplicates_and_redundant_indexes_by_definition() -> None:
    found = duplicates_and_redundancy([
        index("t_pkey", "id", primary=True),
        index("ix_a", "a"),
        index("ix_a_b", "a", "b"),
        index("ix_a_b_again", "a", "b"),
        index("ux_a", "a", unique=True),
        index("ix_a_partial", "a", predicate="(b > 0)"),
        index("ix_a_incl_c", "a", include=["c"]),
        index("gin_a", "a", method="gin"),
        index("ix_b_a", "b", "a"),
    ])
    assert found["ix_a_b"] == (["ix_a_b_again"], [])
    assert found["ix_a_b_again"] == (["ix_a_b"], [])
    assert found["ix_a"] == ([], ["ix_a_b", "ix_a_b_again", "ux_a", "ix_a_incl_c"])
    assert found["ux_a"] == ([], [])  # enforces uniqueness
    assert found["ix_a_partial"] == ([], [])  # another predicate
    assert found["ix_a_incl_c"] == ([], [])  # no other index carries c
    assert found["gin_a"] == ([], [])
    assert found["ix_b_a"] == ([], [])
    assert found["t_pkey"] == ([], [])


def test_the_usage_matrix_of_the_csr_run_flags_the_redundant_company_id_index(
        csr_head: CsrRun) -> None:
    matrix = usage_matrix(csr_head.document)
    assert matrix.known
    assert len(matrix.scenarios) == len({i["scenario"] for i in csr_head.document["items"]})
    rows = {r.name: r for r in matrix.indexes}
    company = rows["ix_calls_company_id"]
    # whether a plan picks it is close to a coin toss against ix_calls_company_id_booked
    # (the same size after deduplication), so only its redundancy is certain
    assert "ix_calls_company_id_created_at" in company.redundant_with
    assert "ix_calls_company_id" in [r.name for r in matrix.drop_candidates]
    assert not any(r.constraint for r in matrix.drop_candidates)
    assert rows["calls_pkey"].constraint and not rows["calls_pkey"].redundant_with
    threads = rows["ix_message_threads_contact_card_id_created_at"]
    assert threads.used_by == {"message_thread_page": ["custom", "generic"]}


def test_compare_rebuilds_the_endpoint_benefits_table(csr_head: CsrRun,
                                                       csr_before: CsrRun) -> None:
    # a pull request's compare sets no claims beside its figures; a capacity review does
    assert not compare(csr_head.document, csr_before.document).benefits
    comparison = compare(csr_head.document, csr_before.document, claims=True)
    assert len(comparison.changes) == len(csr_head.document["items"])
    # The index migration makes the largest tenant's date-range queries walk the date-only
    # index (42% of the calls are that tenant's): more shared buffers than the sequential
    # scan they replace, which the gate reports; nothing else regresses.
    assert comparison.regressions, "the largest tenant's index walks read more than a scan"
    for change in comparison.regressions:
        assert "largest-tenant" in change.id, change
        assert all("shared buffers (beyond" in reason for reason in change.worse), change
    assert len(comparison.improvements) >= 50
    benefits = {b.endpoint: b for b in comparison.benefits}
    claimed = csr_head.document["run"]["endpoint_claims"]
    assert set(claimed) <= set(benefits)
    calls = benefits["GET /api/v1/dashboard/calls"]
    assert calls.claimed_speedup == "5-20x"
    # the status-filtered listing carries a query string and counts under the same claim
    assert calls.items == sum(1 for i in csr_head.document["items"]
                              if i["endpoint"].startswith("GET /api/v1/dashboard/calls"))
    threads = benefits["GET /api/v1/message-threads/{contact_card_id}"]
    assert threads.before_ms > threads.after_ms and threads.speedup > 1
    reverse = compare(csr_before.document, csr_head.document)
    assert {c.id for c in comparison.improvements} <= {c.id for c in reverse.regressions}


def test_inlined_sql_runs_in_postgresql_with_the_bound_values(
        database: HarnessDatabase) -> None:
    sql = ("SELECT %(n)s::int + 1, %(s)s::text, %(t)s::timestamptz, %(u)s::uuid, 'x%%', "
           "%(none)s::int")
    params = {"n": "41", "s": "it's; DROP TABLE x --", "t": "2025-01-28T18:50:37.238660+00:00",
              "u": "0901c71f-c8ff-8998-1fc8-a4b6087f02f0", "none": "None"}
    with psycopg.connect(database.conninfo) as conn:
        row = conn.execute(inline_params(sql, params).encode()).fetchone()
    assert row == (42, "it's; DROP TABLE x --",
                   dt.datetime(2025, 1, 28, 18, 50, 37, 238660, tzinfo=dt.UTC),
                   uuid.UUID("0901c71f-c8ff-8998-1fc8-a4b6087f02f0"), "x%", None)


# --- rendering -------------------------------------------------------------------------------

def test_a_run_writes_the_html_and_a_short_markdown_summary(csr_head: CsrRun,
                                                            csr_before: CsrRun) -> None:
    html = (csr_head.report_dir / "index.html").read_text()
    assert "<link" not in html and "http://" not in html and "https://" not in html
    assert html.count("<script>") == 1  # the inline one
    for heading in ("Index usage", "Capacity", "Plans", "Items"):
        assert f"<h2>{heading}</h2>" in html
    summary = (csr_before.report_dir / "summary.md").read_text()
    lines = summary.splitlines()
    assert len(lines) <= SUMMARY_MAX_LINES
    fails = csr_before.document["counts"]["fail"]
    assert lines[0].startswith(f"## plan-harness: {fails} failed")
    assert re.search(r"\n\.\.\. and \d+ more items \(see the HTML report\)\n", summary)
    # the missing indexes of the earlier revision, one line per index instead of per item,
    # before the table of items
    causes = [line for line in lines if re.match(r"(\d+\.|-) index_missing: ", line)]
    assert causes and all(re.search(r": \d+ items? failed$", line) for line in causes)
    assert all(f"does not exist at revision {BEFORE_INDEXES}" in line for line in causes)
    assert "/scenarios/" not in "".join(causes)
    assert lines.index(causes[-1]) < next(n for n, line in enumerate(lines)
                                          if line.startswith("| item |"))
    assert not re.search(r"(?:^|\s)/(?:[\w.-]+/)+", summary)  # no absolute path
    before_html = (csr_before.report_dir / "index.html").read_text()
    assert "<h2 id=\"causes\">By cause</h2>" in before_html
    assert before_html.index("<h2 id=\"causes\">") < before_html.index(
        "<summary><b>Failing items</b>")
    assert "<h2>Environment</h2>" in html
    assert "](" not in summary and "http" not in summary  # link-free


def test_report_command_rerenders_and_compares_without_a_database(
        csr_head: CsrRun, csr_before: CsrRun, tmp_path: Path) -> None:
    result = run_cli("report", str(csr_head.report_dir / "results.json"), "--compare",
                     str(csr_before.report_dir / "results.json"), "--out", str(tmp_path),
                     env={"PATH": "/usr/bin:/bin"})  # no DSN, no server
    assert result.returncode == 0, result.stderr
    assert f"report: {tmp_path / 'index.html'}" in result.stdout
    html = (tmp_path / "index.html").read_text()
    assert "Endpoint performance, claimed and measured" not in html
    summary = (tmp_path / "summary.md").read_text()
    assert len(summary.splitlines()) <= SUMMARY_MAX_LINES
    regressed = len(compare(csr_head.document, csr_before.document).regressions)
    assert f"{regressed} regressed" in summary
    assert "5-20x" not in summary
    # the causes lead: the indexes the migration added, for what they mended or broke
    lines = summary.splitlines()
    added = [line for line in lines if re.match(r"(\d+\.|-) ix_\w+ added: \d+ items? ", line)]
    assert any(line.endswith("x fewer") and "improved, buffers" in line for line in added)
    rows = [line for line in lines if line.startswith("| ") and "largest-tenant" in line]
    assert len(rows) == regressed  # the regressions, one row each, the plan at head
    assert all(" -> " in row and "Index" in row for row in rows)
    assert "<h3>Plans that changed</h3>" in html and 'class="plan-diff"' in html


def test_a_saved_capacity_review_shows_the_claims_again(csr_head: CsrRun, csr_before: CsrRun,
                                                       tmp_path: Path) -> None:
    document = json.loads((csr_head.report_dir / "results.json").read_text())
    document["run"]["capacity_review"] = {"before_revision": BEFORE_INDEXES,
                                          "head_revision": "head", "command": "test"}
    validate_results(document)
    results = tmp_path / "results.json"
    results.write_text(json.dumps(document))
    paths = rerender(results, compare_with=csr_before.report_dir / "results.json")
    html, summary = paths.html.read_text(), paths.summary.read_text()
    assert "Endpoint performance, claimed and measured" in html and "5-20x" in html
    assert "| GET /api/v1/dashboard/calls | 5-20x |" in summary
    within = [b for b in compare(document, csr_before.document, claims=True).benefits
              if b.within_noise]
    assert html.count("within noise</span>") == len(within)


def test_markdown_cells_cannot_break_the_table_or_inject_html() -> None:
    assert md_cell("a | b\nc <script> -> \"x\"") == "a \\| b c &lt;script> -> \"x\""


@pytest.fixture
def hostile_project(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLE_PROJECT / "fixtures", tmp_path / "fixtures",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "scenarios").mkdir()
    scenario = (SAMPLE_PROJECT / "scenarios" / "account_feed.toml").read_text()
    scenario = scenario.replace(
        'endpoint = "GET /feed"',
        'name = "<script>alert(\'name\')</script>"\nendpoint = "GET /feed <b>bold</b>"')
    scenario = scenario.replace("AND created_at >= %(since)s",
                                "AND created_at >= %(since)s AND %(note)s <> ''")
    scenario = scenario.replace('values = { account_id = 7, ',
                                'values = { note = "</code><script>alert(1)</script>", '
                                'account_id = 7, ')
    scenario = scenario.replace('since = "@last_event - 30 days" }',
                                'since = "@last_event - 30 days", note = "x" }')
    (tmp_path / "scenarios" / "feed.toml").write_text(scenario)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\nplans_profile = \"small\"\nplans_runs = 3\n")
    return tmp_path


def test_scenario_names_and_parameters_are_escaped_in_the_html(hostile_project: Path) -> None:
    result = run_cli("run", "--plans-revision", "0001", "--project-dir", str(hostile_project))
    assert result.returncode == 1, result.stderr  # no index at 0001: the summary lists them
    html = (hostile_project / "reports" / "index.html").read_text()
    assert html.count("<script>") == 1
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in html
    assert "&lt;/code&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    summary = (hostile_project / "reports" / "summary.md").read_text()
    assert "<script>" not in summary and "&lt;script>" in summary
