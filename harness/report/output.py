"""Output: the run's results.json, index.html and summary.md written from one results
document, and re-rendered from a saved one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ReportError
from harness.files import write_atomically
from harness.report.analysis import Comparison, compare
from harness.report.document import (
    SCHEMA_VERSION,
    Document,
    count_outcomes,
    read_results,
    results_document,
)
from harness.report.render import render_html, render_summary
from harness.verdict.results import CaseResult, RunFacts

__all__ = [
    "SCHEMA_VERSION",
    "WORKERS_DIR",
    "Document",
    "ReportPaths",
    "merge_worker_results",
    "read_results",
    "rerender",
    "results_document",
    "write_report",
    "write_review_report",
    "write_worker_results",
]


@dataclass(frozen=True)
class ReportPaths:
    results: Path
    html: Path
    summary: Path


def write_report(directory: Path, facts: RunFacts, results: Sequence[CaseResult],
                 base_dir: Path | None = None, before: Document | None = None,
                 note: str = "") -> ReportPaths:
    """Writes results.json, index.html and summary.md into `directory`; with `before` (an
    earlier run's document) the HTML and Markdown compare the two. `note` says why no item
    ran, when none did."""
    document = results_document(facts, results, base_dir)
    if note:
        document["run"]["note"] = note
    comparison = compare(document, before) if before is not None else None
    return _write(directory, document, comparison, with_results=True)


WORKERS_DIR = ".workers"


def write_worker_results(directory: Path, worker: str, facts: RunFacts,
                         results: Sequence[CaseResult], base_dir: Path | None = None) -> Path:
    """A pytest-xdist worker's share of the run, for the controller to merge."""
    document = results_document(facts, results, base_dir)
    path = directory / WORKERS_DIR / f"{worker}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(document, default=str) + "\n", "the worker's results",
                     ReportError)
    return path


def merge_worker_results(directory: Path) -> ReportPaths | None:
    """Merges the workers' shares into one report in `directory` (None when there are
    none): the run facts of the first worker, every worker's items, counts recomputed."""
    parts = sorted((directory / WORKERS_DIR).glob("*.json"))
    if not parts:
        return None
    documents = {path.stem: read_results(path) for path in parts}
    workers = [
        {"worker": worker, "items": len(d["items"]), "cache": d["run"]["cache"],
         "ready_seconds": d["run"]["ready_seconds"]}
        for worker, d in documents.items()
    ]
    items = sorted((i for d in documents.values() for i in d["items"]), key=lambda i: i["id"])
    merged = next(iter(documents.values()))
    merged["items"], merged["counts"] = items, count_outcomes(items)
    merged["run"]["workers"] = workers
    paths = _write(directory, merged, None, with_results=True)
    shutil.rmtree(directory / WORKERS_DIR, ignore_errors=True)
    return paths


def write_review_report(directory: Path, facts: RunFacts, results: Sequence[CaseResult],
                        before: Document, review: dict[str, str],
                        base_dir: Path | None = None) -> ReportPaths:
    """A capacity review's report: the head run compared with the run before the reviewed
    migration, with the endpoints' claimed speed-ups beside the measured ones (`review`
    says which revisions and command; `plan-harness report` shows the claims again)."""
    document = results_document(facts, results, base_dir)
    document["run"]["capacity_review"] = review
    return _write(directory, document, compare(document, before, claims=True),
                  with_results=True)


def rerender(results_path: Path, directory: Path | None = None,
             compare_with: Path | None = None) -> ReportPaths:
    """Renders index.html and summary.md from a saved results file (its directory by default),
    comparing with a second one when given (the second is the "before")."""
    document = read_results(results_path)
    claims = bool(document["run"].get("capacity_review"))
    comparison = (compare(document, read_results(compare_with), claims) if compare_with
                  else None)
    return _write(directory or results_path.parent, document, comparison, with_results=False,
                  results_path=results_path)


def _write(directory: Path, document: Document, comparison: Comparison | None,
           with_results: bool, results_path: Path | None = None) -> ReportPaths:
    paths = ReportPaths(results_path or directory / "results.json",
                        directory / "index.html", directory / "summary.md")
    if with_results:
        write_atomically(paths.results, json.dumps(document, indent=1, default=str) + "\n",
                         "the results", ReportError)
    write_atomically(paths.html, render_html(document, comparison), "the report", ReportError)
    write_atomically(paths.summary, render_summary(document, comparison), "the summary",
                     ReportError)
    return paths
