"""The regression proof on the CSR schema at the ci scale: at head every scenario passes;
at the revision before the index migration every scenario whose expected index is missing
fails and names that index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO

BEFORE_INDEXES = "20250115000000"
# What exists at that revision besides primary keys: the CallAnalysis model's own index.
PRESENT_BEFORE = {"ix_analysis_tenant_analyzed"}


def run_plans(report_dir: Path, *args: str) -> tuple[int, dict[str, Any]]:
    command = [sys.executable, "-m", "pytest", "scenarios", "-m", "plans", "-q",
               "-p", "no:cacheprovider", "--plans-runs", "2", "--plans-warmup", "0",
               "--plans-report-dir", str(report_dir), *args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    document = json.loads((report_dir / "results.json").read_text())
    return result.returncode, document


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    return run_plans(tmp_path_factory.mktemp("before"), "--plans-revision", BEFORE_INDEXES)


def test_at_head_every_scenario_passes(tmp_path: Path) -> None:
    code, document = run_plans(tmp_path)
    failed = [i["id"] for i in document["items"] if i["outcome"] == "fail"]
    assert failed == []
    assert code == 0
    assert len(document["items"]) >= 60


def test_before_the_index_migration_missing_indexes_fail_by_name(
        before: tuple[int, dict[str, Any]]) -> None:
    code, document = before
    assert code == 1
    checked = 0
    for item in document["items"]:
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
        before: tuple[int, dict[str, Any]]) -> None:
    _, document = before
    objections = [i for i in document["items"] if i["scenario"] == "top_objections"]
    assert objections and all(i["outcome"] != "fail" for i in objections)
