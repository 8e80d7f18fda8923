"""Distributed plans recorded on a Citus cluster (tests/data/citus, CSR `ci` data, 2 workers,
32 shards), read by the one plan model through the Citus node expander."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import PlanError
from harness.measure import citus
from harness.measure.plans import Plan
from support import TESTS

SAMPLES = TESTS / "data" / "citus"
# the 18 shards of calls that hold no row at ci: their tasks sort an empty Seq Scan
EMPTY_CALLS_SHARDS = (102106, 102107, 102109, 102110, 102114, 102116, 102117, 102118, 102123,
                      102125, 102126, 102127, 102129, 102130, 102132, 102134, 102135, 102136)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture(autouse=True)
def _no_cluster_facts() -> Iterator[None]:
    citus.forget()
    yield
    citus.forget()


@pytest.mark.parametrize(("name", "index"), [
    ("router_call_list_median_30d.json", "ix_calls_company_id_created_at"),
    ("router_largest_tenant_count.json", "ix_calls_company_id_created_at"),
    ("router_dashboard_metrics_largest_30d.json", "ix_calls_created_at"),  # a bitmap scan
    ("prepared_execute_primed_valid.json", "ix_calls_company_id_created_at"),
])
def test_a_router_plan_is_one_task_reading_the_index_by_its_own_name(name: str,
                                                                      index: str) -> None:
    plan = Plan.from_explain(sample(name))
    [task] = citus.tasks(plan.root)
    assert task.details["Shard Id"] == 102111
    assert task.details["Node"] == "host=127.0.0.1 port=9701 dbname=csr"
    assert plan.indexes_on("calls") == {index}
    assert {n.relation for n in plan.nodes() if n.relation} == {"calls"}
    shard_names = {n.details.get("Shard Index Name") for n in task.walk()} - {None}
    assert shard_names == {f"{index}_102111"}


def test_a_bitmap_index_scan_takes_its_shard_from_the_heap_scan_above_it() -> None:
    plan = Plan.from_explain(sample("router_dashboard_metrics_largest_30d.json"))
    [bitmap] = [n for n in plan.nodes() if n.node_type == "Bitmap Index Scan"]
    assert bitmap.relation is None
    assert bitmap.index == "ix_calls_created_at"
    heap = next(n for n in plan.nodes() if n.node_type == "Bitmap Heap Scan")
    assert heap.label == "Bitmap Heap Scan on calls (ix_calls_created_at)"


def test_buffers_are_the_coordinators_plus_every_tasks() -> None:
    router = Plan.from_explain(sample("router_call_list_median_30d.json"))
    assert router.root.shared_buffers == 0  # the coordinator reads nothing of a router
    assert router.shared_buffers == 98
    primed = Plan.from_explain(sample("prepared_execute_primed_valid.json"))
    assert (primed.root.shared_buffers, primed.shared_buffers) == (68, 68 + 551)
    fanout = Plan.from_explain(sample("fanout_recent_calls_all_tenants_all_tasks.json"))
    tasks = citus.tasks(fanout.root)
    assert fanout.shared_buffers == fanout.root.shared_buffers + sum(
        t.shared_buffers for t in tasks)


def test_a_fan_out_shows_every_task_and_keeps_empty_shards_names_when_known() -> None:
    document = sample("fanout_recent_calls_all_tenants_all_tasks.json")
    plain = Plan.from_explain(document)
    assert len(citus.tasks(plain.root)) == 32
    assert {n.relation for n in plain.nodes() if n.relation} == {"calls"}
    citus.know(shard_rows={shard: 0 for shard in EMPTY_CALLS_SHARDS})
    plan = Plan.from_explain(document)
    seq_scans = {n.relation for n in plan.nodes() if n.node_type == "Seq Scan"}
    assert seq_scans == {f"calls_{shard}" for shard in EMPTY_CALLS_SHARDS}
    used = [t for t in citus.tasks(plan.root) if t.details.get("Shard Rows") != 0]
    assert len(used) == 14
    assert all(n.index == "ix_calls_created_at" for t in used for n in t.walk() if n.index)


@pytest.mark.parametrize("name", ["fanout_recent_calls_default_one_task.json",
                                  "fanout_appointments_by_date.json"])
def test_a_fan_out_showing_one_of_its_tasks_is_refused_in_one_line(name: str) -> None:
    with pytest.raises(PlanError) as refused:
        Plan.from_explain(sample(name))
    message = str(refused.value)
    assert "\n" not in message
    assert "shows 1 of its 32 tasks" in message
    assert "SET citus.explain_all_tasks = on" in message


def test_the_invalid_text_of_a_fresh_session_is_a_one_line_plan_error() -> None:
    text = (SAMPLES / "prepared_execute_fresh_session_invalid.txt").read_text()
    with pytest.raises(PlanError) as refused:
        Plan.from_explain(text)
    assert str(refused.value).startswith("EXPLAIN output is not JSON: ")
    assert "\n" not in str(refused.value)


def test_hash_any_is_postgresqls_hashtext() -> None:
    # SELECT hashtext(...) & x'ffffffff'::bigint on PostgreSQL 18.6
    assert citus.hash_any(b"") == 0xA7EA466D
    assert citus.hash_any(b"abcdefgh") == 0x8B1E9C33
    assert citus.hash_any(b"abcdefghijklm") == 0x1830C6D0


def test_a_name_cut_at_63_bytes_is_read_back_when_the_full_name_is_known() -> None:
    long_index = "ix_call_analysis_tenant_id_sentiment_label_and_created_at_dates"
    shard = citus.shard_name(long_index, 102200)
    assert len(shard) == 63 and shard.endswith("_102200")
    assert shard.startswith(long_index[:47] + "_")
    document = [{"Plan": {
        "Node Type": "Custom Scan", "Custom Plan Provider": "Citus Adaptive",
        "Distributed Query": {"Job": {"Task Count": 1, "Tasks Shown": "All", "Tasks": [{
            "Node": "host=w1 port=5432 dbname=d",
            "Remote Plan": [[{"Plan": {"Node Type": "Index Scan", "Index Name": shard,
                                       "Relation Name": "call_analysis_102200"}}]]}]}}}}]
    assert Plan.from_explain(document).indexes_on("call_analysis") == {shard[:-7]}
    citus.know(names=[long_index, "ix_short"])
    assert Plan.from_explain(document).indexes_on("call_analysis") == {long_index}


def test_the_citus_scan_expects_the_rows_its_tasks_expect() -> None:
    router = Plan.from_explain(sample("router_call_list_median_30d.json"))
    assert router.root.plan_rows == 100  # the worker's Limit; Citus itself says 0
    document = sample("fanout_recent_calls_all_tenants_all_tasks.json")
    [scan] = [n for n in Plan.from_explain(document).nodes() if n.node_type == "Custom Scan"]
    assert scan.plan_rows == 100_000  # an estimate of Citus's own is kept
    document[0]["Plan"]["Plans"][0]["Plans"][0]["Plan Rows"] = 0
    fanout = Plan.from_explain(document)
    [scan] = [n for n in fanout.nodes() if n.node_type == "Custom Scan"]
    assert scan.plan_rows == sum(t.plan_rows for t in citus.tasks(fanout.root)) == 931


def test_the_coordinators_sort_merges_the_tasks_and_a_workers_sort_is_its_own() -> None:
    fanout = Plan.from_explain(sample("fanout_recent_calls_all_tenants_all_tasks.json"))
    sorts = [n for n in fanout.nodes() if n.node_type == "Sort"]
    assert [n.merges_parts for n in sorts] == [True] + [False] * (len(sorts) - 1)
    assert len(sorts) == 1 + len(EMPTY_CALLS_SHARDS)  # each empty shard sorts its Seq Scan


def test_a_cut_name_is_the_one_citus_14_gives() -> None:
    # CREATE INDEX ix_calls_company_id_created_at_and_a_rather_long_name_for_hashing on a
    # distributed table (PostgreSQL keeps its first 63 bytes): shard 102008's name of it,
    # as Citus 14.0.1 named it
    index = "ix_calls_company_id_created_at_and_a_rather_long_name_for_hashi"
    on_shard = "ix_calls_company_id_created_at_and_a_rather_lon_b4bcfd36_102008"
    assert citus.shard_name(index, 102008) == on_shard
    citus.know(names=[index])
    assert citus.base_name(on_shard, 102008) == index
