"""The distributed checks on plans recorded on a Citus cluster (tests/data/citus): router
plans for tenant-scoped queries, the expected index in every task of a shard with rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.measure import citus
from harness.measure.explain import ModeMeasurement, Timing
from harness.measure.plans import Plan
from harness.project.manifest import CheckDefaults, read_project
from harness.project.scenarios import Scenario, read_scenario
from harness.verdict import distributed
from harness.verdict.checks import Context, Verdict, evaluate
from support import REPO, TESTS, catalog_of

SAMPLES = TESTS / "data" / "citus"
EMPTY_CALLS_SHARDS = (102106, 102107, 102109, 102110, 102114, 102116, 102117, 102118, 102123,
                      102125, 102126, 102127, 102129, 102130, 102132, 102134, 102135, 102136)
CALLS_SHARDS = range(102105, 102137)  # 32 shards


@pytest.fixture(autouse=True)
def _cluster() -> Iterator[None]:
    """The CSR layout, and the shards' rows of the recorded cluster (102111: the largest
    tenant's; empty ones known empty; the others a few thousand rows)."""
    distributed.use(read_project(REPO / "fixtures", REPO / "scenarios").distribution)
    citus.know(shard_rows={s: 0 if s in EMPTY_CALLS_SHARDS else 5000 for s in CALLS_SHARDS})
    yield
    distributed.use(None)
    citus.forget()


def measured(name: str) -> ModeMeasurement:
    plan = Plan.from_explain(json.loads((SAMPLES / name).read_text()))
    return ModeMeasurement("custom", plan, Timing.from_samples([1.0, 1.1]), True, 1)


def scenario(tmp_path: Path, sql: str, index: str, fan_out: bool = False) -> Scenario:
    path = tmp_path / "case.toml"
    path.write_text(f'table = "calls"\nsql = """{sql}"""\n'
                    + ("fan_out = true\n" if fan_out else "")
                    + f'[expect]\nindex = "{index}"\nplan_modes = ["custom", "generic"]\n'
                    '[[cases]]\nname = "one"\nvalues = { company_id = "x", start = "y" }\n')
    return read_scenario(path)


TENANT_SQL = "SELECT count(*) FROM calls WHERE company_id = %(company_id)s AND " \
             "created_at >= %(start)s"
ALL_TENANTS_SQL = "SELECT id FROM calls WHERE created_at >= %(start)s AND " \
                  "company_id <> %(company_id)s ORDER BY created_at DESC LIMIT 200"


def verdict(s: Scenario, sample: str) -> Verdict:
    context = Context(catalog_of({"calls": 300_000.0}, {
        "ix_calls_company_id_created_at": "INDEX ON public.calls USING btree (company_id, "
        "created_at)", "ix_calls_created_at": "INDEX ON public.calls USING btree (created_at)"},
        "head", "ci@citus"), CheckDefaults())
    return evaluate(s, s.cases[0], [measured(sample)], context)


def names(v: Verdict) -> list[str]:
    return [f.check for f in v.findings]


@pytest.mark.parametrize(("sample", "index"), [
    ("router_largest_tenant_count.json", "ix_calls_company_id_created_at"),
    ("router_call_list_median_30d.json", "ix_calls_company_id_created_at"),
    ("router_dashboard_metrics_largest_30d.json", "ix_calls_created_at"),  # a bitmap scan
])
def test_a_tenant_scoped_router_plan_passes_the_router_and_index_checks(
        tmp_path: Path, sample: str, index: str) -> None:
    v = verdict(scenario(tmp_path, TENANT_SQL, index), sample)
    assert v.passed, v.first_reason
    assert "router" not in names(v) and "shard_index" not in names(v)
    [tasks] = [f for f in v.findings if f.check == "tasks"]
    assert tasks.message == ("custom plan: router plan, 1 task on 1 node; tasks held to the "
                             "expected index: calls 1 of 1")
    assert "generic_not_applicable" in names(v)
    assert len(distributed.judged_tasks(measured(sample), "calls", 1000)) == 1


def test_a_router_plan_on_another_index_fails_naming_the_task(tmp_path: Path) -> None:
    v = verdict(scenario(tmp_path, TENANT_SQL, "ix_calls_company_id_status"),
                "router_dashboard_metrics_largest_30d.json")
    [finding] = [f for f in v.findings if f.check == "shard_index"]
    assert finding.message == (
        "custom plan: 1 of 1 tasks on shards of calls with more than 1,000 rows did not use "
        "ix_calls_company_id_status (task 1, shard 102111, 5,000 rows: Bitmap Heap Scan on "
        "calls (ix_calls_created_at))")


def test_a_tenant_scoped_fan_out_fails_the_router_check_unless_declared(tmp_path: Path) -> None:
    sample = "fanout_recent_calls_all_tenants_all_tasks.json"
    v = verdict(scenario(tmp_path, TENANT_SQL, "ix_calls_created_at"), sample)
    assert v.outcome == "fail"
    [router] = [f for f in v.findings if f.check == "router"]
    assert router.message.startswith("custom plan ran 32 tasks on 2 nodes for one tenant's rows")
    declared = verdict(scenario(tmp_path, TENANT_SQL, "ix_calls_created_at", fan_out=True),
                       sample)
    assert "router" not in names(declared)
    assert "fan-out, 32 tasks" in next(f.message for f in declared.findings
                                       if f.check == "tasks")


def test_a_cross_tenant_fan_out_judges_every_task_of_a_shard_with_rows(tmp_path: Path) -> None:
    sample = "fanout_recent_calls_all_tenants_all_tasks.json"
    v = verdict(scenario(tmp_path, ALL_TENANTS_SQL, "ix_calls_created_at"), sample)
    assert v.passed, v.first_reason  # the 18 empty shards' Seq Scans are exempt
    judged = distributed.judged_tasks(measured(sample), "calls", 1000)
    assert len(judged) == 14
    assert all(t.indexes == {"ix_calls_created_at"} for t in judged)
    # an index no task uses fails once, counting the tasks
    missed = verdict(scenario(tmp_path, ALL_TENANTS_SQL, "ix_calls_company_id_created_at"),
                     sample)
    [finding] = [f for f in missed.findings if f.check == "shard_index"]
    assert finding.message.startswith("custom plan: 14 of 14 tasks on shards of calls")


def test_a_plan_on_one_node_gets_no_distributed_finding(tmp_path: Path) -> None:
    from support import plan_sample
    plan = Plan.from_explain(plan_sample("index_scan.json"))
    m = ModeMeasurement("custom", plan, Timing.from_samples([1.0]), True, 1)
    s = scenario(tmp_path, TENANT_SQL, "ix_calls_company_id_created_at")
    assert distributed.check_distributed(s, s.cases[0], [m], None) == []
