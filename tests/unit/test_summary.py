"""The Markdown summary a pull-request comment carries, on hand-made results documents: one
line per cause (what the migration did to an index), a short table, warnings as a count and
listed only when new against the base, paths relative to the project."""

from __future__ import annotations

import copy
import re
from typing import Any

from harness.report.analysis import change_causes, compare, new_warnings
from harness.report.render import SUMMARY_TARGET_LINES, render_summary

ROOT = "/home/runner/work/app/app/"
DROPPED = "ix_calls_company_id_status"


def index(name: str, columns: str = "(company_id, status)", valid: bool = True
          ) -> dict[str, Any]:
    return {"index": name, "table": "calls", "size_bytes": 8192, "valid": valid,
            "definition": f"CREATE INDEX {name} ON public.calls USING btree {columns}"}


def mode(name: str, access: str, buffers: int, p50: float) -> dict[str, Any]:
    used = [access.split("(")[-1].rstrip(")")] if "(" in access else []
    return {"mode": name, "access": access, "indexes_used": used, "indexes_all": used,
            "shared_buffers": buffers, "p50_ms": p50, "p95_ms": p50 * 1.2,
            "best_ms": p50, "canary_best_ms": 1.0, "actual_rows": 10.0,
            "budget_shared_buffers": None, "budget_p95_ms": None}


def finding(check: str, message: str, severity: str = "fail",
            mode_name: str | None = None) -> dict[str, str | None]:
    return {"check": check, "message": message, "severity": severity, "mode": mode_name}


def item(case: str, outcome: str, buffers: int, access: str,
         findings: list[dict[str, str | None]], scenario: str = "call_list_by_status"
         ) -> dict[str, Any]:
    reason = f"{findings[0]['check']}: {findings[0]['message']}" if outcome != "pass" else ""
    return {"id": f"{scenario}[{case}]", "scenario": scenario, "endpoint": "GET /calls",
            "file": f"scenarios/{scenario}.toml", "outcome": outcome, "reason": reason,
            "expected_indexes": [DROPPED] if scenario == "call_list_by_status" else ["ix_x"],
            "findings": findings,
            "modes": [mode("custom", access, buffers, 1.0 + buffers / 1000),
                      mode("generic", access, buffers, 1.0 + buffers / 1000)]}


def document(items: list[dict[str, Any]], indexes: list[dict[str, Any]],
             revision: str) -> dict[str, Any]:
    counts = {o: sum(1 for i in items if i["outcome"] == o)
              for o in ("pass", "warn", "fail", "error")}
    return {"run": {"profile": "ci", "revision": revision, "head": revision,
                    "server_version": "18.6", "started_at": "2026-01-01T00:00:00+00:00",
                    "missing": [], "index_sizes": indexes, "endpoint_claims": {},
                    "policy": {"buffer_ratio": 1.5, "buffer_slack": 32,
                               "latency_ratio": 2.0, "latency_floor_ms": 1.0}},
            "counts": {**counts, "plans_differ": 0}, "items": items}


MISESTIMATE = finding("misestimate", "generic plan: Sort estimated 5 rows, got 101 (x20)",
                      "warn", "generic")
CASES = [f"tenant-{n}" for n in range(9)]


def base_and_head() -> tuple[dict[str, Any], dict[str, Any]]:
    """Nine status-list cases through the index at base; at head it is dropped and they
    read 1.8 to 12 times the buffers; one warning the base had too on another scenario."""
    kept = [index(DROPPED), index("ix_x", "(company_id)")]
    warned = item("t", "warn", 50, "Index Scan (ix_x)", [MISESTIMATE], scenario="metrics")
    base = document([item(c, "pass", 100, f"Bitmap Heap Scan on calls ({DROPPED})", [])
                     for c in CASES] + [warned], kept, "0002")
    broken = []
    for n, case in enumerate(CASES):
        grown = 180 + n * 127
        broken.append(item(case, "fail", grown, "Seq Scan on calls", [
            finding("index_missing", f"{ROOT}scenarios/call_list_by_status.toml: "
                    f"expect.index: {DROPPED} does not exist at revision 0003"),
            finding("buffers_grew", f"custom plan reads more: 100 -> {grown} shared buffers "
                    "(at revision 0002), beyond 1.5x and +32", mode_name="custom")]))
    head = document([*broken, copy.deepcopy(warned)], kept[1:], "0003")
    return base, head


def test_a_dropped_index_is_one_cause_line_and_a_short_table() -> None:
    base, head = base_and_head()
    comparison = compare(head, base)
    (cause,) = change_causes(comparison, head)
    assert cause.headline == f"{DROPPED} dropped: 9 items regressed, buffers 1.8-12x"
    summary = render_summary(head, comparison)
    lines = summary.splitlines()
    assert len(lines) <= SUMMARY_TARGET_LINES
    assert summary.count(DROPPED) == 1
    assert ROOT not in summary and "/home/" not in summary
    assert lines[5] == f"- {cause.headline}"
    rows = [line for line in lines if line.startswith("| call_list_by_status[")]
    assert len(rows) == 9 and all("pass -> fail" in row and "Seq Scan on calls" in row
                                  for row in rows)
    assert "| 100 -> 180 (custom, 1.8x) |" in rows[0]
    # the warning the base had too: counted, not listed
    assert "Warnings: 1 item (misestimate 1); none new against the base." in lines
    assert "Sort estimated" not in summary


def test_warnings_are_listed_only_when_new_for_the_item_check_and_mode() -> None:
    base, head = base_and_head()
    warned = head["items"][-1]
    warned["findings"].append(finding("misestimate", "custom plan: Limit estimated 1 rows, "
                                      "got 100 (x100)", "warn", "custom"))
    new = new_warnings(compare(head, base), head)
    assert [(w.item, w.check, w.mode) for w in new] == [("metrics[t]", "misestimate", "custom")]
    assert not new[0].regresses  # a misestimate never gates: the catalogue says so
    summary = render_summary(head, compare(head, base))
    assert "; 1 new against the base:" in summary
    assert "- `metrics[t]` misestimate (custom): custom plan: Limit estimated 1 rows" in summary
    assert "generic plan: Sort estimated" not in summary


def test_a_run_without_base_counts_its_warnings_and_groups_its_failures() -> None:
    _, head = base_and_head()
    summary = render_summary(head)
    lines = summary.splitlines()
    assert len(lines) <= SUMMARY_TARGET_LINES
    assert (f"- index_missing: expect.index: {DROPPED} does not exist at revision 0003: "
            "9 items failed") in lines
    assert "Warnings: 1 item (misestimate 1), in the HTML report." in lines
    assert ROOT not in summary and re.search(r"\bN\b", summary) is None
