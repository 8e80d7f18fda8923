"""Two runs judged once in harness.verdict.comparison; the report's compare only adds views."""

from __future__ import annotations

from typing import Any

from harness.report.analysis import Comparison, compare
from harness.verdict.comparison import RunComparison, judge_runs


def finding(check: str, severity: str = "fail", message: str = "",
            mode: str | None = "custom") -> dict[str, Any]:
    return {"severity": severity, "check": check, "mode": mode, "message": message or check}


def document(outcome: str = "pass", *findings: dict[str, Any],
             buffers: int = 100) -> dict[str, Any]:
    mode = {"mode": "custom", "access": "Index Scan using ix on t", "shared_buffers": buffers,
            "p50_ms": 5.0, "actual_rows": 1.0, "plan": {}}
    return {"run": {"policy": {}, "endpoint_claims": {}, "noise": {}},
            "items": [{"id": "s[a]", "endpoint": "e", "outcome": outcome, "reason": "",
                       "modes": [mode], "findings": list(findings)}]}


def worse_and_better(after: dict[str, Any], before: dict[str, Any]) -> tuple[Any, Any]:
    (change,) = judge_runs(after, before).changes
    return change.worse, change.better


def test_leaving_the_accepted_index_regresses_though_the_outcome_stayed_fail() -> None:
    base = document("fail", finding("seq_scan", mode="generic"))
    head = document("fail", finding("seq_scan", mode="generic"),
                    finding("index", message="custom plan did Seq Scan on t"))
    assert worse_and_better(head, base) == (("custom plan did Seq Scan on t",), ())
    # failing it in that mode at base already is no news
    assert worse_and_better(head, document("fail", finding("index"))) == ((), ())


def test_latency_counts_as_the_head_run_judged_it() -> None:
    base = document()
    slower = document("fail", finding("latency_slower", message="x3 slower"))
    assert worse_and_better(slower, base)[0][-1] == "x3 slower"
    # against a baseline file latency only warns: not a regression between these runs
    assert worse_and_better(document("warn", finding("latency_slower", "warn")), base) == (
        (), ())
    faster = document("pass", finding("latency_faster", "info", "x3 faster"))
    assert worse_and_better(faster, base) == ((), ("x3 faster",))


def test_a_check_only_an_older_file_has_is_ignored() -> None:
    assert worse_and_better(document("pass", finding("baseline", "info")), document()) == (
        (), ())


def test_the_reports_compare_is_the_verdicts_judgement_with_views() -> None:
    head, base = document(buffers=13_000), document(buffers=433)
    judged = judge_runs(head, base)
    shown = compare(head, base)
    assert isinstance(shown, Comparison) and isinstance(shown, RunComparison)
    assert shown.changes == judged.changes and shown.regressed and judged.regressed
    assert judged.regressions[0].worse == (
        "custom: 433 -> 13,000 shared buffers (beyond 1.5x and +32)",)
    assert shown.benefits == [] and shown.plan_diffs == []


def test_only_warnings_that_say_the_plan_got_worse_regress_and_only_when_new() -> None:
    base = document()
    # a row estimate that moved, plans that differ, a rename: shown, never gating
    for check in ("misestimate", "plans_differ", "plan_changed", "index_renamed"):
        assert worse_and_better(document("warn", finding(check, "warn")), base) == ((), ())
    seq_scan = document("warn", finding("seq_scan", "warn", "custom plan has Seq Scan on t"))
    assert worse_and_better(seq_scan, base) == (
        ("new warning: custom plan has Seq Scan on t",), ())
    assert worse_and_better(seq_scan, seq_scan) == ((), ())  # not new
    for check in ("forbidden_node", "table_unchecked", "index"):
        assert worse_and_better(document("warn", finding(check, "warn")), base)[0]


def test_a_stale_expectation_counts_as_improved_and_a_fail_to_pass_too() -> None:
    stale = document("warn", finding("stale_expectation", "warn", "a better index"),
                     buffers=10)
    change = judge_runs(stale, document()).changes[0]
    assert change.improved and not change.regressed
    assert "a better index" in change.better
    assert worse_and_better(document(), document("fail", finding("index"))) == (
        (), ("fail -> pass",))
