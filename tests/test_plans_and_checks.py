"""Plan parsing and every check, on hand-written EXPLAIN JSON: each check shown failing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import plan_sample
from harness.baseline import Baseline, ModeBaseline, compare_item
from harness.checks import (
    Catalog,
    check_budgets,
    check_forbidden_nodes,
    check_index_used,
    check_indexes_exist,
    check_misestimates,
    check_plan_modes_agree,
    check_seq_scans,
    evaluate,
)
from harness.explain import ModeMeasurement, Timing, percentile
from harness.mutation import CAUGHT, MISSED, REDUNDANT, _classify
from harness.plans import Plan
from harness.project import CheckDefaults
from harness.scenarios import Scenario, load_scenario
from harness.session import CaseResult

SCENARIO = """
table = "calls"
sql = "SELECT * FROM calls WHERE company_id = %(c)s ORDER BY created_at DESC LIMIT 100"
[expect]
index = "ix_calls_company_id_created_at"
forbid_nodes = ["Sort"]
[budget]
p95_ms = { ci = 5 }
shared_buffers = { ci = 1000 }
[[cases]]
name = "one"
values = { c = "x" }
"""

CATALOG = Catalog(table_rows={"calls": 300_000.0}, indexes=frozenset(
    {"ix_calls_company_id_created_at", "ix_calls_company_id_status"}), revision="head",
    profile="ci")


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    path = tmp_path / "call_list.toml"
    path.write_text(SCENARIO)
    return load_scenario(path)


def measured(name: str, samples: tuple[float, ...] = (1.0, 1.2, 1.1)) -> ModeMeasurement:
    return ModeMeasurement("custom", Plan.from_explain(plan_sample(name)),
                           Timing.from_samples(samples), plan_held=True, rows_returned=100)


def test_plan_tree_is_parsed() -> None:
    plan = Plan.from_explain(plan_sample("seq_scan_sort.json"))
    assert [n.node_type for n in plan.nodes()] == ["Limit", "Sort", "Seq Scan"]
    assert plan.shared_buffers == 14564
    assert plan.execution_ms == pytest.approx(61.4)
    assert plan.settings == {"random_page_cost": "1.1"}
    assert plan.access_summary("calls") == "Seq Scan on calls"
    assert plan.indexes_on("calls") == set()


def test_index_names_come_from_index_and_bitmap_scans() -> None:
    assert Plan.from_explain(plan_sample("index_scan.json")).indexes_on("calls") == {
        "ix_calls_company_id_created_at"}
    bitmap = Plan.from_explain(plan_sample("bitmap.json"))
    assert bitmap.indexes_on("calls") == {"ix_calls_company_id_status"}
    assert bitmap.access_summary("calls") == "Bitmap Heap Scan on calls (ix_calls_company_id_status)"


def test_not_an_explain_document_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'Plan' key"):
        Plan.from_explain([{"Query": 1}])


def test_expected_index_check_fails_on_a_seq_scan(scenario: Scenario) -> None:
    findings = check_index_used(scenario, scenario.cases[0], measured("seq_scan_sort.json"),
                                CATALOG)
    assert [f.message for f in findings] == [
        "custom plan did Seq Scan on calls instead of using ix_calls_company_id_created_at"]
    assert check_index_used(scenario, scenario.cases[0], measured("index_scan.json"),
                            CATALOG) == []


def test_a_missing_index_is_named_with_file_and_field(scenario: Scenario) -> None:
    before = Catalog(CATALOG.table_rows, frozenset(), revision="20250115000000", profile="ci")
    (finding,) = check_indexes_exist(scenario, scenario.cases[0], before)
    assert str(scenario.path) in finding.message
    assert "expect.index: ix_calls_company_id_created_at does not exist at revision " \
           "20250115000000" in finding.message


def test_seq_scan_on_a_big_table_fails_and_on_a_small_one_passes() -> None:
    m = measured("seq_scan_sort.json")
    (finding,) = check_seq_scans(m, CATALOG, min_rows=10_000)
    assert "Seq Scan on calls (300,000 rows > threshold 10,000)" in finding.message
    assert check_seq_scans(m, CATALOG, min_rows=1_000_000) == []


def test_forbidden_sort_is_reported_with_its_key() -> None:
    (finding,) = check_forbidden_nodes(measured("seq_scan_sort.json"), ["Sort"])
    assert "Sort (Sort Key: created_at DESC)" in finding.message
    assert check_forbidden_nodes(measured("index_scan.json"), ["Sort"]) == []


def test_budgets_fail_with_measured_value_against_budget(scenario: Scenario) -> None:
    slow = measured("seq_scan_sort.json", samples=(9.0, 10.0, 11.0))
    messages = [f.message for f in check_budgets(scenario, slow, "ci")]
    assert any("p95 10.90 ms > budget 5 ms at profile ci" in m for m in messages)
    assert any("14,564 shared buffers > budget 1,000" in m for m in messages)
    fast = measured("index_scan.json")
    assert [f for f in check_budgets(scenario, fast, "ci") if f.severity == "fail"] == []


def test_a_profile_without_budget_is_not_budgeted(scenario: Scenario) -> None:
    findings = check_budgets(scenario, measured("seq_scan_sort.json"), "dev")
    assert {f.severity for f in findings} == {"info"}


def test_misestimate_is_a_warning() -> None:
    heap, index = check_misestimates(measured("bitmap.json"), factor=10.0)
    assert heap.severity == index.severity == "warn"
    assert "Bitmap Heap Scan on calls (ix_calls_company_id_status) estimated 40 rows, got " \
           "4,100 (x102)" in heap.message
    assert check_misestimates(measured("bitmap.json"), factor=200.0) == []


def test_a_scan_stopped_by_limit_is_no_misestimate() -> None:
    # The index scan is estimated at 22,000 rows but the Limit above it stops at 100.
    assert check_misestimates(measured("index_scan.json"), factor=10.0) == []


def test_verdict_collects_failures(scenario: Scenario) -> None:
    verdict = evaluate(scenario, scenario.cases[0], [measured("seq_scan_sort.json")], CATALOG,
                       CheckDefaults())
    assert not verdict.passed
    assert {f.check for f in verdict.of("fail")} == {"index", "seq_scan", "forbidden_node",
                                                      "shared_buffers"}
    good = evaluate(scenario, scenario.cases[0], [measured("index_scan.json")], CATALOG,
                    CheckDefaults())
    assert good.outcome == "pass"


def test_percentile_interpolates_between_order_statistics() -> None:
    samples = [float(i) for i in range(1, 21)]
    assert percentile(samples, 95) == pytest.approx(19.05)
    assert percentile([3.0], 95) == 3.0


def test_custom_and_generic_plans_that_differ_are_flagged(scenario: Scenario) -> None:
    custom = measured("seq_scan_sort.json")
    generic = ModeMeasurement("generic", Plan.from_explain(plan_sample("index_scan.json")),
                              None, plan_held=True, rows_returned=100)
    case = scenario.cases[0]
    (finding,) = check_plan_modes_agree(scenario, case, [custom, generic])
    assert finding.severity == "warn"
    assert finding.message == (
        "custom and generic plans differ (custom plan: Seq Scan on calls; generic plan: "
        "Index Scan using ix_calls_company_id_created_at on calls)")
    same = ModeMeasurement("generic", custom.plan, None, plan_held=True, rows_returned=100)
    assert check_plan_modes_agree(scenario, case, [custom, same]) == []


def test_two_expected_indexes_count_as_the_same_plan(scenario: Scenario) -> None:
    """Between two indexes the scenario accepts alike, which one a plan picks is noise."""
    case = replace(scenario.cases[0], expect=replace(
        scenario.cases[0].expect, indexes=("ix_calls_company_id_created_at", "ix_calls_other")))
    raw = plan_sample("index_scan.json")
    text = json.dumps(raw).replace("ix_calls_company_id_created_at", "ix_calls_other")
    custom = ModeMeasurement("custom", Plan.from_explain(raw), None, True, 100)
    generic = ModeMeasurement("generic", Plan.from_explain(json.loads(text)), None, True, 100)
    assert check_plan_modes_agree(scenario, case, [custom, generic]) == []
    unexpected = json.loads(json.dumps(raw).replace("ix_calls_company_id_created_at", "ix_x"))
    other = ModeMeasurement("generic", Plan.from_explain(unexpected), None, True, 100)
    assert len(check_plan_modes_agree(scenario, case, [custom, other])) == 1


def test_a_plan_that_changed_during_timing_is_a_warning(scenario: Scenario) -> None:
    moved = ModeMeasurement("custom", Plan.from_explain(plan_sample("index_scan.json")),
                            Timing.from_samples((1.0,)), plan_held=False, rows_returned=100)
    verdict = evaluate(scenario, scenario.cases[0], [moved], CATALOG, CheckDefaults())
    assert [f.check for f in verdict.of("warn")] == ["plan_changed"]
    assert verdict.outcome == "warn"


def test_baseline_same_shape_reading_more_fails_and_slower_warns(scenario: Scenario,
                                                                  tmp_path: Path) -> None:
    now = measured("index_scan.json", samples=(40.0, 41.0, 42.0))
    shape, buffers = now.plan.shape(), now.plan.shared_buffers
    baseline = Baseline(tmp_path / "b.toml", "ci", "head", frozenset({"calls"}), {
        "call_list[one]": {"custom": ModeBaseline(shape, buffers // 2, 5.0)}})
    (finding,) = compare_item(baseline, "call_list[one]", [now])
    assert (finding.severity, finding.check) == ("fail", "baseline_buffers")
    same = Baseline(baseline.path, "ci", "head", baseline.tables, {
        "call_list[one]": {"custom": ModeBaseline(shape, buffers, 5.0)}})
    (slower,) = compare_item(same, "call_list[one]", [now])
    assert (slower.severity, slower.check) == ("warn", "baseline_p95")
    steady = Baseline(baseline.path, "ci", "head", baseline.tables, {
        "call_list[one]": {"custom": ModeBaseline(shape, buffers, 40.0)}})
    assert compare_item(steady, "call_list[one]", [now]) == []
    (new,) = compare_item(steady, "call_list[other]", [now])
    assert new.severity == "info" and "a new item" in new.message


def test_mutation_proof_calls_an_unnoticed_uncovered_index_missed(scenario: Scenario) -> None:
    case = scenario.cases[0]
    passing = evaluate(scenario, case, [measured("index_scan.json")], CATALOG, CheckDefaults())
    results = [CaseResult(scenario, case, {}, (), passing)]
    missed = _classify("ix_calls_company_id_status", results, [], [])
    assert missed.verdict == MISSED
    covered = _classify("ix_calls_company_id_status", results, [], ["ix_wider"])
    assert covered.verdict == REDUNDANT and "ix_wider" in covered.reason
    failing = evaluate(scenario, case, [measured("seq_scan_sort.json")], CATALOG,
                       CheckDefaults())
    caught = _classify("ix_calls_company_id_created_at",
                       [CaseResult(scenario, case, {}, (), failing)], [], [])
    assert caught.verdict == CAUGHT and caught.failed_items == ["call_list[one]"]
