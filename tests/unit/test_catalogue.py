"""The check catalogue: every finding names a registered check, and its readers follow it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.measure.catalog import Catalog
from harness.measure.explain import ModeMeasurement, Timing
from harness.measure.plans import Plan
from harness.project.manifest import CheckDefaults
from harness.project.scenarios import Scenario, read_scenario
from harness.verdict import catalogue
from harness.verdict.checks import Context, Finding, ModeReference, Reference, evaluate
from harness.verdict.gate import Severity
from support import plan_sample

SCENARIO = """
table = "calls"
sql = "SELECT * FROM calls WHERE company_id = %(c)s ORDER BY created_at DESC LIMIT 100"
[expect]
index = "ix_calls_company_id_created_at"
forbid_nodes = ["Sort"]
{own_threshold}
[budget]
p95_ms = {{ ci = 5 }}
shared_buffers = {{ ci = 1000 }}
[[cases]]
name = "one"
values = {{ c = "x" }}
"""


def scenario(tmp_path: Path, own_threshold: str = "") -> Scenario:
    path = tmp_path / "calls.toml"
    path.write_text(SCENARIO.format(own_threshold=own_threshold))
    return read_scenario(path)


def measured(name: str, mode: str = "custom", samples: tuple[float, ...] = (9.0, 10.0),
             held: bool = True) -> ModeMeasurement:
    return ModeMeasurement(mode, Plan.from_explain(plan_sample(name)),
                           Timing.from_samples(samples), plan_held=held, rows_returned=100)


def test_names_are_unique_and_every_finding_names_a_registered_check(tmp_path: Path) -> None:
    every = [catalogue.ERROR, catalogue.INDEX, catalogue.P95, catalogue.LATENCY_SLOWER]
    assert all(catalogue.CHECKS[c.name] is c for c in every)
    the_scenario = scenario(tmp_path)
    case = the_scenario.cases[0]
    catalog = Catalog({"calls": 300_000.0}, frozenset(), "head", "ci")
    findings: list[Finding] = []
    for measurements, base_buffers in (([measured("seq_scan_sort.json", held=False),
                                         measured("index_scan.json", "generic")], 1),
                                       ([measured("bitmap.json")], 1_000_000)):
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
    assert sorted(catalogue.SHOWN_INFO) == ["buffers_shrank", "latency_faster",
                                            "latency_remeasured", "p95_remeasured", "plan_shape"]
    assert sorted(catalogue.NOISY) == ["latency_slower", "p95"]
    assert catalogue.remeasured("p95") == "p95_remeasured"
    assert catalogue.remeasured("latency_slower") == "latency_remeasured"
    with pytest.raises(ValueError, match="index is not a check measured again"):
        catalogue.remeasured("index")
    assert [c.name for c in catalogue.CHECKS.values() if c.regresses] == ["latency_slower"]
    assert [c.name for c in catalogue.CHECKS.values() if c.improves] == ["latency_faster"]
    assert catalogue.title("seq_scan") == "a sequential scan of a large table"
    assert catalogue.title("baseline") == "baseline"  # a name only an older file has


def test_a_scenarios_seq_scan_threshold_of_zero_is_honoured(tmp_path: Path) -> None:
    """0 is a threshold (every Seq Scan fails), not a missing one."""
    small = Catalog({"calls": 500.0}, frozenset({"ix_calls_company_id_created_at"}), "h", "ci")
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
