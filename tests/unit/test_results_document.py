"""The results document's schema version 4: ready_seconds, and older files read as it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from harness.report.document import SCHEMA_VERSION, read_results, results_document
from harness.report.output import merge_worker_results, write_worker_results
from harness.verdict.gate import Policy
from harness.verdict.results import RunFacts
from support import validate_results


def facts(ready_seconds: float = 0.0) -> RunFacts:
    return RunFacts(profile="ci", ready_seconds=ready_seconds, policy=asdict(Policy()),
                    started_at="2026-01-01T00:00:00+00:00")


def test_a_run_says_when_its_database_was_ready() -> None:
    document = results_document(facts(2.5), [])
    assert document["schema_version"] == SCHEMA_VERSION == 5
    assert document["run"]["ready_seconds"] == 2.5 and "seed_seconds" not in document["run"]
    validate_results(json.loads(json.dumps(document, default=str)))


def test_a_version_3_file_with_seed_seconds_reads_as_ready_seconds(tmp_path: Path) -> None:
    document = results_document(facts(), [])
    run = document["run"]
    del run["ready_seconds"]
    run["seed_seconds"] = 12.5
    run["workers"] = [{"worker": "gw0", "items": 3, "cache": "reused k", "seed_seconds": 1.5}]
    document["schema_version"] = 3
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document, default=str))
    loaded = read_results(path)
    assert loaded["schema_version"] == 5
    assert loaded["run"]["ready_seconds"] == 12.5 and "seed_seconds" not in loaded["run"]
    assert loaded["run"]["workers"][0]["ready_seconds"] == 1.5
    validate_results(loaded)


def test_merged_workers_keep_their_ready_seconds(tmp_path: Path) -> None:
    for worker, seconds in (("gw0", 1.0), ("gw1", 3.0)):
        write_worker_results(tmp_path, worker, facts(seconds), [])
    paths = merge_worker_results(tmp_path)
    assert paths is not None
    merged = json.loads(paths.results.read_text())
    assert [(w["worker"], w["ready_seconds"]) for w in merged["run"]["workers"]] == [
        ("gw0", 1.0), ("gw1", 3.0)]
    validate_results(merged)
