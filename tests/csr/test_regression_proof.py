"""The regression proof on the CSR schema at the ci scale: at head every scenario passes;
at the revision before the index migration every scenario whose expected index is missing
fails and names that index."""

from __future__ import annotations

from support import BEFORE_INDEXES, CsrRun

# What exists at that revision besides primary keys: the CallAnalysis model's own index.
PRESENT_BEFORE = {"ix_analysis_tenant_analyzed"}


def test_at_head_every_scenario_passes(csr_head: CsrRun) -> None:
    failed = [i["id"] for i in csr_head.document["items"] if i["outcome"] == "fail"]
    assert failed == []
    assert csr_head.returncode == 0, csr_head.output[-2000:]
    assert len(csr_head.document["items"]) >= 60


def test_before_the_index_migration_missing_indexes_fail_by_name(csr_before: CsrRun) -> None:
    assert csr_before.returncode == 1
    checked = 0
    for item in csr_before.document["items"]:
        if set(item["expected_indexes"]) & PRESENT_BEFORE:
            continue
        checked += 1
        assert item["outcome"] == "fail", item["id"]
        missing = [f["message"] for f in item["findings"] if f["check"] == "index_missing"]
        assert len(missing) == 1, item["id"]
        for name in item["expected_indexes"]:
            assert name in missing[0], (item["id"], name)
        assert f"does not exist at revision {BEFORE_INDEXES}" in missing[0]
    assert checked >= 50


def test_before_the_index_migration_the_model_index_still_serves_top_objections(
        csr_before: CsrRun) -> None:
    objections = [i for i in csr_before.document["items"] if i["scenario"] == "top_objections"]
    assert objections and all(i["outcome"] != "fail" for i in objections)
