"""The check catalogue: every finding names a registered check, and its readers follow it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.project.manifest import CheckDefaults
from harness.project.scenarios import Scenario
from harness.verdict import catalogue
from harness.verdict.checks import Context, Finding, ModeReference, Reference, evaluate
from harness.verdict.gate import Severity
from support import call_list_scenario, catalog_of, measured


def scenario(tmp_path: Path, own_threshold: str = "") -> Scenario:
    return call_list_scenario(tmp_path, own_threshold)



def test_names_are_unique_and_every_finding_names_a_registered_check(tmp_path: Path) -> None:
    every = [catalogue.ERROR, catalogue.INDEX, catalogue.P95, catalogue.LATENCY_SLOWER]
    assert all(catalogue.CHECKS[c.name] is c for c in every)
    the_scenario = scenario(tmp_path)
    case = the_scenario.cases[0]
    catalog = catalog_of({"calls": 300_000.0}, frozenset(), "head", "ci")
    findings: list[Finding] = []
    slow = (9.0, 10.0)  # beyond the 5 ms budget and the reference's fastest 1 ms
    for measurements, base_buffers in (([measured("seq_scan_sort.json", samples=slow,
                                                  held=False),
                                         measured("index_scan.json", "generic", slow)], 1),
                                       ([measured("bitmap.json", samples=slow)], 1_000_000)):
        reference = Reference("base", {"custom": ModeReference(("Limit",), base_buffers,
                                                               best_ms=1.0)}, latency_gates=True)
        verdict = evaluate(the_scenario, case, measurements, Context(catalog, CheckDefaults()),
                           reference, [Finding(Severity.FAIL, "p95", "custom", "slow")])
        findings += verdict.findings
    names = {f.check for f in findings}
    assert {"index_missing", "index", "seq_scan", "forbidden_node", "p95", "shared_buffers",
            "misestimate", "plans_differ", "plan_changed", "buffers_grew", "buffers_shrank",
            "latency_slower", "p95_remeasured"} <= names
    assert names <= set(catalogue.CHECKS)


def test_what_is_shown_noisy_and_judged_by_compare_comes_from_the_catalogue() -> None:
    assert sorted(catalogue.SHOWN_INFO) == ["buffers_shrank", "generic_not_applicable",
                                            "index_definition", "latency_faster",
                                            "latency_remeasured", "p95_remeasured",
                                            "plan_shape", "tasks"]
    assert sorted(catalogue.NOISY) == ["latency_slower", "p95"]
    assert catalogue.remeasured("p95") == "p95_remeasured"
    assert catalogue.remeasured("latency_slower") == "latency_remeasured"
    with pytest.raises(ValueError, match="index is not a check measured again"):
        catalogue.remeasured("index")
    assert [c.name for c in catalogue.CHECKS.values() if c.regresses] == ["latency_slower"]
    assert [c.name for c in catalogue.CHECKS.values() if c.improves] == [
        "stale_expectation", "latency_faster"]
    assert [c.name for c in catalogue.CHECKS.values() if c.new_warning_regresses] == [
        "index_missing", "index_definition", "index", "seq_scan", "forbidden_node",
        "table_unchecked"]
    assert catalogue.title("seq_scan") == "a sequential scan of a large table"
    assert catalogue.title("baseline") == "baseline"  # a name only an older file has


def test_a_scenarios_seq_scan_threshold_of_zero_is_honoured(tmp_path: Path) -> None:
    """0 is a threshold (every Seq Scan fails), not a missing one."""
    small = catalog_of({"calls": 500.0}, frozenset({"ix_calls_company_id_created_at"}), "h", "ci")
    context = Context(small, CheckDefaults(seq_scan_min_rows=10_000))
    scan = [measured("seq_scan_sort.json", samples=(1.0,))]
    default = scenario(tmp_path)
    assert "seq_scan" not in {f.check for f in evaluate(default, default.cases[0], scan,
                                                        context).findings}
    strict = scenario(tmp_path, "seq_scan_min_rows = 0")
    assert strict.expect.seq_scan_min_rows == 0
    (finding,) = [f for f in evaluate(strict, strict.cases[0], scan, context).findings
                  if f.check == "seq_scan"]
    assert "(500 rows > threshold 0)" in finding.message
    loose = replace(strict, expect=replace(strict.expect, seq_scan_min_rows=1_000))
    assert "seq_scan" not in {f.check for f in evaluate(loose, loose.cases[0], scan,
                                                        context).findings}
