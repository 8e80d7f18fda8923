"""Report: results.json for machines, index.html for people and summary.md for a pull-request
comment, all from one results document. `plan-harness report` re-renders them from a saved
document, without a database."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ReportError
from harness.report.analysis import Comparison, compare
from harness.report.document import SCHEMA_VERSION, Document, load_results, results_document
from harness.report.render import render_html, render_summary
from harness.session import CaseResult, RunFacts

__all__ = ["SCHEMA_VERSION", "Document", "ReportPaths", "load_results", "rerender",
           "results_document", "write_report"]


@dataclass(frozen=True)
class ReportPaths:
    results: Path
    html: Path
    summary: Path


def write_report(directory: Path, facts: RunFacts, results: Sequence[CaseResult],
                 base_dir: Path | None = None, before: Document | None = None) -> ReportPaths:
    """Writes results.json, index.html and summary.md into `directory`; with `before` (an
    earlier run's document) the HTML and Markdown compare the two."""
    document = results_document(facts, results, base_dir)
    comparison = compare(document, before) if before is not None else None
    return _write(directory, document, comparison, with_results=True)


def rerender(results_path: Path, directory: Path | None = None,
             compare_with: Path | None = None) -> ReportPaths:
    """Renders index.html and summary.md from a saved results file (its directory by default),
    comparing with a second one when given (the second is the "before")."""
    document = load_results(results_path)
    comparison = compare(document, load_results(compare_with)) if compare_with else None
    return _write(directory or results_path.parent, document, comparison, with_results=False,
                  results_path=results_path)


def _write(directory: Path, document: Document, comparison: Comparison | None,
           with_results: bool, results_path: Path | None = None) -> ReportPaths:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        paths = ReportPaths(results_path or directory / "results.json",
                            directory / "index.html", directory / "summary.md")
        if with_results:
            _write_atomically(paths.results, json.dumps(document, indent=1, default=str) + "\n")
        _write_atomically(paths.html, render_html(document, comparison))
        _write_atomically(paths.summary, render_summary(document, comparison))
    except OSError as exc:
        raise ReportError(f"{exc.filename or directory}: cannot write the report: "
                          f"{exc.strerror}") from None
    return paths


def _write_atomically(path: Path, text: str) -> None:
    """A reader (a CI step, a browser) never sees half a file, and a failed render leaves
    the previous file in place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
