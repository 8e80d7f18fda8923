"""The gate's semantics without a database: errors as verdicts, every table of a join
checked, per-case budgets, buffer growth under an accepted index, latency beyond the noise
only, and what `compare` calls a regression."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from harness.config import Config
from harness.errors import ConfigError
from harness.measure.explain import ModeMeasurement, Timing
from harness.measure.plans import Plan
from harness.project.manifest import CheckDefaults
from harness.project.scenarios import Budget, budget_profile_problems, read_scenario
from harness.report.analysis import compare
from harness.report.render import render_summary
from harness.verdict.checks import (
    Context,
    ModeReference,
    Reference,
    check_budgets,
    error_verdict,
    evaluate,
)
from harness.verdict.gate import (
    Noise,
    Outcome,
    Policy,
    Timed,
    canary_noise,
    latency_change,
    normalized_samples,
)
from harness.verdict.results import CaseResult
from harness.workflows.budgets import propose, write_case_budgets
from support import catalog_of, plan_sample

JOIN = """
table = "events"
sql = "SELECT e.id FROM accounts a JOIN events e ON e.account_id = a.id WHERE a.email = %(email)s LIMIT 20"
[expect]
index = "ix_events_account_id_created_at"
[expect.tables.accounts]
index = "ix_accounts_email"
[budget]
shared_buffers = { ci = 1000 }
[[cases]]
name = "one"
values = { email = "x" }
[[cases]]
name = "two"
values = { email = "y" }
budget.shared_buffers = { ci = 10 }
"""
CATALOG = catalog_of({"events": 20_000.0, "accounts": 4_000.0},
                  frozenset({"ix_events_account_id_created_at", "ix_accounts_email",
                             "accounts_pkey"}), "head", "ci")
CONTEXT = Context(CATALOG, CheckDefaults(seq_scan_min_rows=1000))


def mode(document: Any, name: str = "custom", samples: tuple[float, ...] = (1.0,),
         canary: tuple[float, ...] | None = None) -> ModeMeasurement:
    return ModeMeasurement(name, Plan.from_explain(document), Timing.from_samples(samples),
                           True, 20, Timing.from_samples(canary) if canary else None)


def join_plan(accounts_index: str = "ix_accounts_email") -> Any:
    return json.loads(json.dumps(plan_sample("join.json")).replace("ix_accounts_email",
                                                                   accounts_index))


@pytest.fixture
def join(tmp_path: Path) -> Any:
    path = tmp_path / "account_activity.toml"
    path.write_text(JOIN)
    return read_scenario(path)


def test_the_other_table_of_a_join_is_checked_too(join: Any) -> None:
    case = join.cases[0]
    good = evaluate(join, case, [mode(join_plan())], CONTEXT)
    assert good.outcome == "pass", good.findings
    unbudgeted = dataclasses.replace(case, budget=Budget({}, {}))
    other = evaluate(join, unbudgeted, [mode(join_plan("accounts_pkey"))], CONTEXT)
    assert other.outcome == "fail"
    assert other.first_reason == ("index: custom plan did Index Scan using accounts_pkey on "
                                  "accounts instead of using ix_accounts_email")
    # under a budget written from 787 buffers, 27 through another index is an improvement
    better = evaluate(join, case, [mode(join_plan("accounts_pkey"))], CONTEXT)
    assert better.outcome == "warn"
    assert better.first_reason.startswith(
        "stale_expectation: the plans read accounts through accounts_pkey instead of "
        "ix_accounts_email, with fewer shared buffers in every mode (custom 27 < 787 (the "
        "budget's measured figure))")


def test_a_big_table_without_an_expectation_is_a_warning(join: Any, tmp_path: Path) -> None:
    path = tmp_path / "unchecked.toml"
    path.write_text(JOIN.replace('[expect.tables.accounts]\nindex = "ix_accounts_email"\n', ""))
    scenario = read_scenario(path)
    verdict = evaluate(scenario, scenario.cases[0], [mode(join_plan())], CONTEXT)
    assert verdict.outcome == "warn"
    assert "add [expect.tables.accounts]" in verdict.first_reason


def test_a_missing_index_of_the_other_table_names_its_field(join: Any) -> None:
    catalog = catalog_of(CATALOG.table_rows, frozenset({"ix_events_account_id_created_at"}),
                      "0001", "ci")
    verdict = evaluate(join, join.cases[0], [mode(join_plan())], Context(catalog,
                                                                         CheckDefaults()))
    assert any("expect.tables.accounts.index: ix_accounts_email does not exist at revision "
               "0001" in f.message for f in verdict.findings)


def test_a_gone_index_warns_when_another_serves_with_fewer_buffers(join: Any) -> None:
    catalog = catalog_of(CATALOG.table_rows, {"ix_events_account_id_created_at",
                                              "accounts_pkey"})
    served = [mode(join_plan("accounts_pkey"))]  # 27 buffers through the primary key
    reference = Reference("at revision base", {"custom": ModeReference(("x",), 40)})
    verdict = evaluate(join, join.cases[0], served, Context(catalog, CheckDefaults()),
                       reference)
    assert verdict.outcome == "warn", verdict.findings
    assert verdict.first_reason.startswith(
        "stale_expectation: the plans read accounts through accounts_pkey instead of "
        "ix_accounts_email (")
    assert "custom 27 < 40 (the reference)" in verdict.first_reason
    # reading as much as before is not better: the missing index fails
    costlier = Reference("at revision base", {"custom": ModeReference(("x",), 27)})
    assert evaluate(join, join.cases[0], served, Context(catalog, CheckDefaults()),
                    costlier).outcome == "fail"


def test_a_case_budget_overrides_the_scenarios(join: Any) -> None:
    assert join.cases[0].budget.shared_buffers == {"ci": {"*": 1000}}
    assert join.cases[1].budget.shared_buffers == {"ci": {"*": 10}}
    verdict = evaluate(join, join.cases[1], [mode(join_plan())], CONTEXT)
    assert verdict.first_reason == ("shared_buffers: custom plan touched 27 shared buffers > "
                                    "budget 10 at profile ci")


def test_a_budget_of_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "misspelt.toml"
    path.write_text(JOIN.replace("budget.shared_buffers = { ci = 10 }",
                                 "budget.shared_buffers = { cii = 10 }"))
    scenario = read_scenario(path)
    assert budget_profile_problems(scenario, ["dev", "ci"], "profiles.toml") == [
        f"{path}: cases[1].budget.shared_buffers.cii: unknown profile 'cii' (profiles in "
        "profiles.toml: ci, dev)"]
    assert budget_profile_problems(scenario, ["cii", "ci"], "profiles.toml") == []


@pytest.mark.parametrize(("value", "problem"), [("-1", "not a number of at least 1"),
                                                ("lots", "'lots' is not a number"),
                                                ("nan", "not a number of at least 1")])
def test_a_bad_tolerance_is_one_line(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"--plans-buffer-tolerance: .*{problem}"):
        Config.resolve({"buffer_tolerance": value}, {}, {}, Path("."))
    with pytest.raises(ConfigError, match="--plans-buffer-slack: -3 is below the minimum 0"):
        Config.resolve({"buffer_slack": "-3"}, {}, {}, Path("."))


def test_an_error_outranks_every_other_outcome() -> None:
    verdict = error_verdict("scenarios/x.toml: sql: column \"lead_id\" does not exist")
    assert verdict.outcome == "error" and not verdict.passed
    assert verdict.first_reason.endswith('column "lead_id" does not exist')
    assert sorted(Outcome) == [Outcome.PASS, Outcome.WARN, Outcome.FAIL, Outcome.ERROR]


def test_plans_that_differ_only_in_scan_type_do_not_differ(tmp_path: Path) -> None:
    path = tmp_path / "calls.toml"
    path.write_text('table = "calls"\nsql = "SELECT 1 FROM calls WHERE company_id = %(c)s"\n'
                    '[expect]\nindex = "ix_calls_company_id_status"\n'
                    '[[cases]]\nname = "one"\nvalues = { c = "x" }\n')
    scenario = read_scenario(path)
    bitmap = plan_sample("bitmap.json")
    as_index_scan = copy.deepcopy(plan_sample("index_scan.json"))
    as_index_scan[0]["Plan"]["Plans"][0]["Index Name"] = "ix_calls_company_id_status"
    catalog = catalog_of({"calls": 300_000.0}, frozenset({"ix_calls_company_id_status"}), "h",
                      "ci")
    verdict = evaluate(scenario, scenario.cases[0],
                       [mode(bitmap), mode(as_index_scan, "generic")],
                       Context(catalog, CheckDefaults()))
    assert "plans_differ" not in {f.check for f in verdict.findings}


def test_latency_counts_only_beyond_the_noise_and_the_machines_slowdown() -> None:
    policy, steady = Policy(), Noise(1.1, 0.1)
    assert latency_change(Timed(3.0, 1.0), Timed(9.0, 1.0), steady, policy) == 1
    assert latency_change(Timed(3.0, 1.0), Timed(9.0, 3.0), steady, policy) == 0  # busy
    assert latency_change(Timed(3.0, 1.0), Timed(9.0, 1.0), Noise(3.5, 0.1), policy) == 0
    assert latency_change(Timed(3.0, 1.0), Timed(9.0, 1.0), Noise(1.1, 7.0), policy) == 0
    assert latency_change(Timed(0.2, 1.0), Timed(0.9, 1.0), steady, policy) == 0  # < 1 ms
    assert latency_change(Timed(9.0, 1.0), Timed(3.0, 1.0), steady, policy) == -1
    # the machine got faster and the item did not: not a regression
    assert latency_change(Timed(6.3, 4.0), Timed(6.7, 1.8), steady, policy) == 0
    assert canary_noise([1.0] * 9 + [None]) == Noise(1.0, 0.0)
    spread = canary_noise([1.0] * 9 + [3.0])
    assert spread.ratio > 1.0 and spread.spread_ms > 0.0


def test_each_execution_is_judged_beside_its_own_canary() -> None:
    """A burst that slows a few executions and their canaries alike is divided out of just
    those: the p95 of 20 runs, 3 of them 3x slower with their canaries, stays in budget."""
    samples = (20.0,) * 17 + (60.0,) * 3
    canaries = (1.0,) * 17 + (3.0,) * 3
    assert normalized_samples(samples, canaries, 1.0) == [20.0] * 20
    assert normalized_samples((5.0,), (0.5,), 1.0) == [5.0]  # never scaled up
    assert normalized_samples((5.0, 6.0), (), 1.0) == [5.0, 6.0]  # no canaries: as measured
    timed = ModeMeasurement("custom", Plan.from_explain(join_plan()),
                            Timing.from_samples(samples), True, 20,
                            Timing.from_samples(canaries))
    budget = Budget({"ci": {"*": 26.0}}, {})
    assert [f for f in check_budgets(budget, timed, "ci", 1.0) if f.check == "p95"] == []
    # the median canary (1.0) would have divided nothing out of the p95 (58 ms)
    slow_alone = ModeMeasurement("custom", timed.plan, Timing.from_samples(samples), True, 20,
                                 Timing.from_samples((1.0,) * 20))
    (over,) = [f for f in check_budgets(budget, slow_alone, "ci", 1.0) if f.check == "p95"]
    assert over.severity == "fail"


def test_run_to_run_latency_pairs_each_execution_with_its_canary(join: Any) -> None:
    case = join.cases[0]
    base = ModeReference(("x",), 27, 10.0, 10.0, 1.0, (10.0,) * 5, (1.0,) * 5)
    reference = Reference("at revision base", {"custom": base}, latency_gates=True)
    # every head execution ran on a machine twice as slow, the canaries say so
    busy = mode(join_plan(), samples=(20.0,) * 5, canary=(2.0,) * 5)
    verdict = evaluate(join, case, [busy], CONTEXT, reference)
    assert "latency_slower" not in {f.check for f in verdict.findings}
    # 5x slower on a calm machine: caught
    slower = mode(join_plan(), samples=(50.0,) * 5, canary=(1.0,) * 5)
    (finding,) = [f for f in evaluate(join, case, [slower], CONTEXT, reference).findings
                  if f.check == "latency_slower"]
    assert finding.severity == "fail" and "median run (each beside its own canary) 10.00 -> " \
        "50.00 ms" in finding.message


def _document(outcome: str, buffers: int = 100, p50: float = 5.0,
              reason: str = "") -> dict[str, Any]:
    modes = [] if outcome == "error" else [{
        "mode": "custom", "access": "Index Scan using ix on t", "shared_buffers": buffers,
        "best_ms": p50, "canary_best_ms": 1.0, "actual_rows": 1.0}]
    return {"run": {"policy": {"buffer_ratio": 1.5, "buffer_slack": 32, "latency_ratio": 2.0,
                               "latency_floor_ms": 1.0}, "endpoint_claims": {}},
            "items": [{"id": "s[a]", "endpoint": "e", "outcome": outcome, "reason": reason,
                       "modes": modes, "findings": []}]}


def test_compare_calls_an_error_at_head_a_regression_and_at_both_broken() -> None:
    regressed = compare(_document("error", reason="error: sql: column gone"),
                        _document("pass"))
    assert regressed.regressed and "pass -> error: error: sql: column gone" in (
        regressed.regressions[0].worse[0])
    both = compare(_document("error"), _document("error"))
    assert not both.regressed and both.broken_everywhere == ["s[a]"]


def test_compare_calls_a_missing_item_and_grown_buffers_regressions() -> None:
    missing = compare({**_document("pass"), "items": []}, _document("pass"))
    assert missing.regressed and missing.only_before == ["s[a]"]
    grown = compare(_document("pass", buffers=13_000), _document("pass", buffers=433))
    assert grown.regressions[0].worse == (
        "custom: 433 -> 13,000 shared buffers (beyond 1.5x and +32)",)
    steady = compare(_document("pass", p50=5.4), _document("pass", p50=5.0))
    assert not steady.regressed and not steady.improvements


def test_the_summary_counts_errors_and_never_says_every_item_passed(join: Any) -> None:
    document = {"run": {"profile": "ci", "revision": "head", "head": "head",
                        "server_version": "18", "started_at": "now", "missing": []},
                "counts": {"pass": 1, "warn": 0, "fail": 0, "error": 1, "plans_differ": 0},
                "items": [{"id": "s[a]", "outcome": "error", "reason": "error: sql: boom"},
                          {"id": "s[b]", "outcome": "pass", "reason": ""}]}
    summary = render_summary(document)
    assert summary.startswith("## plan-harness: 0 failed, 1 errors, 0 warnings, 1 passed")
    assert "- error: sql: boom: 1 item errored" in summary
    assert "| s[a] | error | error: sql: boom |  |  |" in summary
    assert "Every item passed." not in summary


def test_budgets_are_proposed_per_case_and_written_into_the_file(join: Any) -> None:
    verdict = evaluate(join, join.cases[0], [mode(join_plan(), samples=(2.0, 9.0))], CONTEXT)
    results = [CaseResult(join, join.cases[0], {}, (mode(join_plan(), samples=(2.0, 9.0)),),
                          verdict)]
    (proposal,) = propose(results, "ci")
    (custom,) = proposal.modes
    # ceil(27 x 1.25) + 16 buffers, ceil(8.65 x 5) + 20 ms; the budget in force beside them
    assert (custom.budget_buffers, custom.budget_p95_ms) == (50, 64)
    assert (custom.current_buffers, custom.current_p95_ms) == (1000, None)
    write_case_budgets(join.path, "ci", [proposal])
    again = read_scenario(join.path)
    assert again.cases[0].own_budget.shared_buffers == {"ci": {"custom": 50}}
    assert again.cases[0].own_budget.p95_ms == {"ci": {"custom": 64.0}}
    assert again.cases[0].budget.buffers_limit("ci", "generic") == 1000  # the scenario's
    assert again.cases[1].own_budget.shared_buffers == {"ci": {"*": 10}}  # untouched
