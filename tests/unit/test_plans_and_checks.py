"""Plan parsing and every check, on hand-written EXPLAIN JSON: each check shown failing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import PlanError
from harness.measure.capacity import IndexSize
from harness.measure.explain import ModeMeasurement, Timing, percentile
from harness.measure.plans import Plan
from harness.project.manifest import CheckDefaults
from harness.project.scenarios import Scenario
from harness.verdict.checks import (
    Context,
    ModeReference,
    Reference,
    check_budgets,
    check_expected_access,
    check_forbidden_nodes,
    check_misestimates,
    check_plan_modes_agree,
    check_seq_scans,
    evaluate,
)
from harness.verdict.gate import Policy
from harness.verdict.results import CaseResult
from harness.workflows.budgets import propose
from harness.workflows.mutation import CAUGHT, MISSED, REDUNDANT, classify
from support import call_list_scenario, catalog_of, measured, plan_sample

CATALOG = catalog_of(table_rows={"calls": 300_000.0}, indexes=frozenset(
    {"ix_calls_company_id_created_at", "ix_calls_company_id_status"}), revision="head",
    profile="ci")
CONTEXT = Context(CATALOG, CheckDefaults())


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return call_list_scenario(tmp_path)


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
    with pytest.raises(PlanError, match="no 'Plan' key"):
        Plan.from_explain([{"Query": 1}])


def test_expected_index_check_fails_on_a_seq_scan(scenario: Scenario) -> None:
    findings = check_expected_access(scenario, scenario.cases[0],
                                     [measured("seq_scan_sort.json")], CONTEXT)
    assert [f.message for f in findings if f.severity == "fail"] == [
        "custom plan did Seq Scan on calls instead of using ix_calls_company_id_created_at"]
    assert [f for f in check_expected_access(scenario, scenario.cases[0],
                                             [measured("index_scan.json")], CONTEXT)
            if f.severity != "info"] == []


def test_a_missing_index_is_named_with_file_and_field(scenario: Scenario) -> None:
    before = Context(catalog_of(CATALOG.table_rows, (), revision="20250115000000"),
                     CheckDefaults())
    missing, _ = check_expected_access(scenario, scenario.cases[0],
                                       [measured("seq_scan_sort.json")], before)
    assert str(scenario.path) in missing.message
    assert "expect.index: ix_calls_company_id_created_at does not exist at revision " \
           "20250115000000" in missing.message


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
    messages = [f.message for f in check_budgets(scenario.cases[0].budget, slow, "ci")]
    assert any("p95 10.90 ms > budget 5 ms at profile ci" in m for m in messages)
    assert any("14,564 shared buffers > budget 1,000" in m for m in messages)
    fast = measured("index_scan.json")
    assert [f for f in check_budgets(scenario.cases[0].budget, fast, "ci")
            if f.severity == "fail"] == []


def test_a_profile_without_budget_is_not_budgeted(scenario: Scenario) -> None:
    findings = check_budgets(scenario.cases[0].budget, measured("seq_scan_sort.json"), "dev")
    assert {f.severity for f in findings} == {"info"}


def test_misestimate_is_a_warning() -> None:
    heap, index = check_misestimates(measured("bitmap.json"), factor=10.0)
    assert heap.severity == index.severity == "warn"
    assert "Bitmap Heap Scan on calls (ix_calls_company_id_status) estimated 40 rows, got " \
           "4,100 (x102)" in heap.message
    assert check_misestimates(measured("bitmap.json"), factor=200.0) == []


def test_a_bitmap_and_is_never_a_misestimate() -> None:
    """BitmapAnd passes a bitmap up, not rows: its actual rows are always 0."""
    document = {"Plan": {
        "Node Type": "Bitmap Heap Scan", "Relation Name": "calls", "Plan Rows": 500,
        "Actual Rows": 480, "Actual Loops": 1, "Plans": [{
            "Node Type": "BitmapAnd", "Plan Rows": 500, "Actual Rows": 0, "Actual Loops": 1,
            "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "ix_a",
                       "Plan Rows": 9000, "Actual Rows": 9100, "Actual Loops": 1}]}]}}
    plan = ModeMeasurement("custom", Plan.from_explain([document]), None, True, 480)
    assert check_misestimates(plan, factor=10.0) == []


def test_a_scan_stopped_by_limit_is_no_misestimate() -> None:
    # The index scan is estimated at 22,000 rows but the Limit above it stops at 100.
    assert check_misestimates(measured("index_scan.json"), factor=10.0) == []


def test_verdict_collects_failures(scenario: Scenario) -> None:
    verdict = evaluate(scenario, scenario.cases[0], [measured("seq_scan_sort.json")], CONTEXT)
    assert not verdict.passed
    assert {f.check for f in verdict.of("fail")} == {"index", "seq_scan", "forbidden_node",
                                                      "shared_buffers"}
    good = evaluate(scenario, scenario.cases[0], [measured("index_scan.json")], CONTEXT)
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
    verdict = evaluate(scenario, scenario.cases[0], [moved], CONTEXT)
    assert [f.check for f in verdict.of("warn")] == ["plan_changed"]
    assert verdict.outcome == "warn"


def test_more_buffers_than_the_reference_fail_even_under_the_accepted_index(
        scenario: Scenario) -> None:
    """433 -> 13,000 buffers through an accepted index is a regression; a slower median
    beyond the noise fails against a base run and only warns against a baseline file."""
    now = measured("index_scan.json", samples=(40.0, 41.0, 42.0))
    shape, buffers = now.plan.shape(), now.plan.shared_buffers
    case = scenario.cases[0]

    def judged(before: ModeReference, gates: bool = True) -> list[tuple[str, str]]:
        reference = Reference("at revision base", {"custom": before}, latency_gates=gates)
        verdict = evaluate(scenario, case, [now], CONTEXT, reference)
        return [(f.severity, f.check) for f in verdict.findings
                if f.check in ("buffers_grew", "buffers_shrank", "latency_slower",
                               "latency_faster", "plan_shape")]

    assert judged(ModeReference(shape, buffers // 30, best_ms=41.0)) == [("fail",
                                                                           "buffers_grew")]
    assert judged(ModeReference(shape, buffers, best_ms=41.0)) == []
    assert judged(ModeReference(shape, buffers, best_ms=10.0)) == [("fail", "latency_slower")]
    assert judged(ModeReference(shape, buffers, best_ms=10.0), gates=False) == [
        ("warn", "latency_slower")]
    # the canary was 4x slower too: the machine, not the plan
    now = replace(now, canary=Timing.from_samples((4.0, 4.0, 4.0)))
    assert judged(ModeReference(shape, buffers, best_ms=10.0, canary_ms=1.0)) == []
    assert judged(ModeReference(shape, buffers * 3, best_ms=41.0)) == [("info",
                                                                        "buffers_shrank")]
    assert judged(ModeReference(("Seq Scan on calls",), buffers, best_ms=41.0)) == [
        ("info", "plan_shape")]


def test_a_tolerance_below_its_slack_is_not_growth() -> None:
    from harness.verdict.gate import buffers_grew

    policy = Policy(buffer_ratio=1.5, buffer_slack=32)
    assert buffers_grew(433, 13_000, policy)
    assert not buffers_grew(10, 40, policy)  # 4x, but 30 buffers: page layout
    assert not buffers_grew(1000, 1400, policy)


def test_mutation_proof_classifies_from_the_runs_with_and_without_the_index(
        scenario: Scenario) -> None:
    case = scenario.cases[0]
    size = IndexSize("ix_calls_company_id_created_at", "calls", 1, 1, None, None, None, None,
                     None)
    passing = evaluate(scenario, case, [measured("index_scan.json")], CONTEXT)
    head = [CaseResult(scenario, case, {}, (measured("index_scan.json"),), passing)]
    failing = evaluate(scenario, case, [measured("seq_scan_sort.json")], CONTEXT)
    caught = classify(size, ["call_list[one]"], head,
                      [CaseResult(scenario, case, {}, (measured("seq_scan_sort.json"),),
                                  failing)])
    assert caught.verdict == CAUGHT and "custom: index" in caught.failing["call_list[one]"]
    # nothing fails (say the threshold hid the Seq Scan), yet the table is read without
    # an index: missed, never "nothing fails" when something did
    quiet = replace(failing, findings=())
    missed = classify(size, ["call_list[one]"], head,
                      [CaseResult(scenario, case, {}, (measured("seq_scan_sort.json"),), quiet)])
    assert missed.verdict == MISSED and "without an index" in missed.reason
    # nothing fails and another index serves: missed if it reads more beyond the
    # tolerance, redundant if not
    bitmap = CaseResult(scenario, case, {}, (measured("bitmap.json"),), passing)
    costlier = classify(size, ["call_list[one]"], head, [bitmap])
    assert costlier.verdict == MISSED and "custom plan reads 104 -> 366 shared buffers" in \
        costlier.reason
    served = classify(size, ["call_list[one]"], [bitmap], [bitmap])
    assert served.verdict == REDUNDANT and "ix_calls_company_id_status" in served.reason


def test_a_mutation_keeps_the_statistics_unless_the_index_has_an_expression() -> None:
    from harness.workflows.mutation import _on_plain_columns

    plain = IndexSize("ix", "calls", 1, 1, None, None, None, None, None,
                      columns=("company_id", '"Created At"'), include=("status",))
    expression = IndexSize("ix", "calls", 1, 1, None, None, None, None, None,
                           columns=("company_id", "lower(email)"))
    assert _on_plain_columns(plain)
    assert not _on_plain_columns(expression)


def test_a_mutation_runs_again_the_cases_that_read_its_table(scenario: Scenario) -> None:
    from harness.workflows.mutation import _cases_it_may_change

    case = scenario.cases[0]
    verdict = evaluate(scenario, case, [measured("index_scan.json")], CONTEXT)
    head = [CaseResult(scenario, case, {}, (measured("index_scan.json"),), verdict)]
    on_calls = IndexSize("ix_calls_x", "calls", 1, 1, None, None, None, None, None)
    on_leads = replace(on_calls, index="ix_leads_x", table="leads")
    cases = [(scenario, case)]
    assert _cases_it_may_change(on_calls, cases, head) == cases
    # no plan reads leads: dropping a plain index of it can change none of them
    assert _cases_it_may_change(on_leads, cases, head) == []
    # a unique index may have let the planner remove a join to its table: every case runs
    assert _cases_it_may_change(replace(on_leads, unique=True), cases, head) == cases


def test_budgets_of_modes_reading_alike_share_the_larger_figures(scenario: Scenario) -> None:
    """A bitmap scan in one mode and a plain index scan of the same index in the other read
    the table alike: which one the planner takes flips with another seed's statistics."""
    case = scenario.cases[0]
    bitmap = measured("bitmap.json")  # 366 buffers through ix_calls_company_id_status
    plain = json.loads(json.dumps(plan_sample("index_scan.json")).replace(
        "ix_calls_company_id_created_at", "ix_calls_company_id_status"))
    generic = replace(measured("index_scan.json", "generic"), plan=Plan.from_explain(plain))
    verdict = evaluate(scenario, case, [bitmap, generic], CONTEXT)
    (proposal,) = propose([CaseResult(scenario, case, {}, (bitmap, generic), verdict)], "ci")
    assert [(m.mode, m.budget_buffers) for m in proposal.modes] == [
        ("custom", 474), ("generic", 474)]  # ceil(366 x 1.25) + 16, both
    other = measured("index_scan.json", "generic")  # another index: its own budget
    (own,) = propose([CaseResult(scenario, case, {}, (bitmap, other), verdict)], "ci")
    assert [m.budget_buffers for m in own.modes] == [474, 146]  # ceil(104 x 1.25) + 16
