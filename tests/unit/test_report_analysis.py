"""Pure views of the report, without a database: SQL with its values inlined, EXPLAIN as
text, plan diffs, the plan tree's per-node figures and failures grouped by cause."""

from __future__ import annotations

import copy
from typing import Any

from harness.report.analysis import (
    cause_key,
    custom_generic_diff,
    explain_text,
    group_by_cause,
    inline_params,
    plan_diff,
    plan_tree,
    reason_cause,
    run_plan_diffs,
    sql_literal,
)
from support import plan_sample


def sample(name: str) -> dict[str, Any]:
    plans = plan_sample(name)
    assert isinstance(plans, list)
    return copy.deepcopy(plans[0])


def test_sql_literals_quote_text_and_leave_numbers() -> None:
    assert sql_literal("42") == "42"
    assert sql_literal("-1.5") == "-1.5"
    assert sql_literal("O'Brien") == "'O''Brien'"
    assert sql_literal("2025-01-28T18:50:37+00:00") == "'2025-01-28T18:50:37+00:00'"
    assert sql_literal("None") == "NULL"
    assert sql_literal("02134") == "'02134'"
    assert sql_literal("1e3") == "1e3"
    assert sql_literal("1; DROP TABLE x") == "'1; DROP TABLE x'"


def test_inline_params_makes_the_sql_runnable_in_psql() -> None:
    sql = "SELECT * FROM t WHERE a = %(a)s AND b LIKE 'x%%' AND c = %(c)s AND d = %(a)s"
    assert inline_params(sql, {"a": "7", "c": "it's"}) == (
        "SELECT * FROM t WHERE a = 7 AND b LIKE 'x%' AND c = 'it''s' AND d = 7")
    # a placeholder without a value stays visible instead of silently vanishing
    assert inline_params("SELECT %(missing)s", {}) == "SELECT %(missing)s"


def test_explain_text_draws_the_tree_as_postgresql_does() -> None:
    lines = explain_text(sample("seq_scan_sort.json")).splitlines()
    assert lines[0] == ("Limit  (cost=9120.50..9120.75 rows=100 width=310) "
                        "(actual time=61.200..61.300 rows=100 loops=1)")
    assert lines[1] == "  Buffers: shared hit=14564"
    assert lines[2].startswith("  ->  Sort  (cost=9120.50..9180.10 rows=23840 width=310)")
    assert "        Sort Key: created_at DESC" in lines
    seq = next(line for line in lines if "Seq Scan" in line)
    assert seq.startswith("        ->  Seq Scan on calls  (cost=0.00..8950.00 rows=23840")
    assert "              Filter: ((company_id)::text = 'x'::text)" in lines
    assert lines[-2:] == ["Planning Time: 0.200 ms", "Execution Time: 61.400 ms"]


def test_a_plan_diff_matches_the_scan_that_replaced_another_on_the_same_table() -> None:
    diff = plan_diff(sample("seq_scan_sort.json"), sample("index_scan.json"))
    statuses = [(r.status, r.before and r.before.label, r.after and r.after.label)
                for r in diff.rows]
    assert statuses == [
        ("same", "Limit", "Limit"),
        ("removed", "Sort", None),
        ("changed", "Seq Scan on calls",
         "Index Scan using ix_calls_company_id_created_at on calls"),
    ]
    changed = diff.rows[2]
    assert changed.before_depth == 2 and changed.after_depth == 1
    assert changed.before is not None and changed.after is not None
    assert changed.before.shared_buffers == 14564 and changed.after.shared_buffers == 104
    assert changed.after.index == "ix_calls_company_id_created_at"
    assert changed.before.time_ms == 55.0
    assert diff.changed
    assert diff.headline == ("Seq Scan on calls -> "
                             "Index Scan using ix_calls_company_id_created_at on calls")
    reverse = plan_diff(sample("index_scan.json"), sample("seq_scan_sort.json"))
    assert [r.status for r in reverse.rows] == ["same", "added", "changed"]


def test_an_unchanged_plan_has_no_diff_and_an_added_node_is_named() -> None:
    join = sample("join.json")
    assert not plan_diff(join, copy.deepcopy(join)).changed
    fewer = copy.deepcopy(join)
    del fewer["Plan"]["Plans"][0]["Plans"][1]
    diff = plan_diff(fewer, join)
    assert [r.status for r in diff.rows] == ["same", "same", "same", "added"]
    assert diff.headline == "Index Scan using ix_events_account_id_created_at on events added"


def item(id_: str, outcome: str, reason: str, **modes: dict[str, Any]) -> dict[str, Any]:
    return {"id": id_, "outcome": outcome, "reason": reason, "plans_differ": len(modes) > 1,
            "modes": [{"mode": name, "plan": plan} for name, plan in modes.items()]}


def test_run_plan_diffs_and_custom_against_generic() -> None:
    scan, index = sample("seq_scan_sort.json"), sample("index_scan.json")
    before = {"items": [item("a", "fail", "", custom=scan), item("b", "pass", "", custom=index)]}
    after = {"items": [item("a", "pass", "", custom=index), item("b", "pass", "", custom=index),
                       item("c", "pass", "", custom=scan)]}
    diffs = run_plan_diffs(after, before)
    assert [(d.item, d.mode) for d in diffs] == [("a", "custom")]
    both = item("d", "warn", "", custom=index, generic=scan)
    found = custom_generic_diff(both)
    assert found is not None and found.diff.headline.startswith("Index Scan using")
    assert custom_generic_diff(item("e", "pass", "", custom=index)) is None
    assert custom_generic_diff(item("f", "pass", "", custom=index, generic=index)) is None


def test_plan_tree_shows_factors_inclusive_time_and_buffer_kinds() -> None:
    plan = sample("seq_scan_sort.json")
    scan = plan["Plan"]["Plans"][0]["Plans"][0]
    scan.update({"Shared Dirtied Blocks": 3, "Temp Written Blocks": 9, "Plan Rows": 2000})
    tree = plan_tree(plan, misestimate_factor=10.0)
    limit = tree
    sort = limit.children[0]
    seq = sort.children[0]
    assert seq.factor == 24012 / 2000 and seq.misestimated
    assert sort.factor is not None and sort.factor > 100 and sort.misestimated
    assert limit.factor == 1.0 and not limit.misestimated
    assert not plan_tree(plan, misestimate_factor=1000.0).children[0].children[0].misestimated
    assert seq.inclusive_ms == 55.0
    assert limit.inclusive_share == 1.0
    assert seq.inclusive_share == 55.0 / 61.3
    assert seq.buffers == [("shared hit", 14564), ("shared dirtied", 3), ("temp written", 9)]


def test_reasons_group_by_cause_without_paths_and_with_the_figures_they_share() -> None:
    one = ("index: custom plan: expected ix_x on calls, got Seq Scan on calls "
           "(1,234 rows, x12) in /home/runner/work/project/scenarios/calls.toml")
    other = ("index: custom plan: expected ix_x on calls, got Seq Scan on calls "
             "(98 rows, x3) in scenarios/calls_page.toml")
    assert cause_key(one)[0] == cause_key(other)[0]
    assert "/home" not in reason_cause(one) and "1,234 rows" in reason_cause(one)
    assert reason_cause("index: expected ix_v2_col") == "index: expected ix_v2_col"
    assert reason_cause("index_missing: /w/p/scenarios/a.toml: cases[2].expect.index: ix_x "
                        "does not exist at revision 20250115000000.") == (
        "index_missing: expect.index: ix_x does not exist at revision 20250115000000.")
    items = [item(f"s[{n}]", "fail", one if n % 2 else other) for n in range(9)]
    items += [item("t[0]", "error", "error: relation \"gone\" does not exist"),
              item("u[0]", "warn", "misestimate: x12"), item("v[0]", "pass", "")]
    groups = group_by_cause(items)
    assert [(g.outcome, len(g.items)) for g in groups] == [("fail", 9), ("error", 1)]
    # what differs between the items is their range; nothing is a placeholder
    assert groups[0].cause == ("index: custom plan: expected ix_x on calls, got Seq Scan on "
                               "calls (98-1,234 rows, x3-12) in")
    assert groups[0].headline.endswith(": 9 items failed")
    assert groups[1].items == ["t[0]"]


def test_no_policy_number_becomes_a_placeholder() -> None:
    """capacity-review printed "beyond N.5x and +N": the tolerance a policy sets is the same
    for every item, so a cause says it as the policy does."""
    grew = ("buffers_grew: custom plan reads more: {} -> {} shared buffers (at revision "
            "20250130000000), beyond 1.5x and +32; plan no longer Index Scan")
    items = [item("a[1]", "fail", grew.format("6,910", "14,676")),
             item("a[2]", "fail", grew.format("364", "4,419"))]
    (group,) = group_by_cause(items)
    assert "beyond 1.5x and +32" in group.cause and "364-6,910 -> 4,419-14,676" in group.cause
    assert "N" not in group.cause.replace("Index", "")
    assert reason_cause("latency_slower: 0.19 -> 1.64 ms: x8.60, beyond x2.00 and 1.0 ms") == (
        "latency_slower: 0.19 -> 1.64 ms: x8.60, beyond x2.00 and 1.0 ms")
