"""Lifecycle: one run from start to finish, the same for every front end and workflow. Open
the run's database; measure the items, at the base revision first when there is one (then
the same database is migrated to the head, whose items are judged against the base); finish:
items gone from a baseline, the baseline written, annotations, the report, and the decision
the exit code is read from."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.build.datagen import Progress
from harness.options import RunOptions
from harness.project.manifest import Project
from harness.project.scenarios import Case, Scenario
from harness.report.annotations import failure_annotations
from harness.report.output import (
    Document,
    ReportPaths,
    read_results,
    results_document,
    write_report,
    write_review_report,
)
from harness.run import PlanRun, all_item_ids
from harness.verdict.decision import Decision, decide_comparison, decide_run
from harness.verdict.gate import Outcome
from harness.verdict.results import CaseResult, RunFacts

Cases = Sequence[tuple[Scenario, Case]]
# Told each result as it is judged, with its phase: "base", "head", or "" for a single run.
OnResult = Callable[[CaseResult, str], None]
BASE, HEAD = "base", "head"


@dataclass(frozen=True)
class Base:
    """The earlier run of a comparison: its results, its facts and its saved report."""

    results: list[CaseResult]
    facts: RunFacts
    paths: ReportPaths | None
    document: Document | None


@dataclass(frozen=True)
class Finished:
    facts: RunFacts
    results: list[CaseResult]
    paths: ReportPaths | None  # None when the report was not asked for
    annotations: list[str]
    migration_failures: list[str]
    base: Base | None
    decision: Decision

    @property
    def counts(self) -> dict[str, int]:
        """Items per outcome, as every report counts them."""
        counts = {outcome.label: 0 for outcome in Outcome}
        for result in self.results:
            counts[result.verdict.outcome] += 1
        return counts


def _ignore(result: CaseResult, phase: str) -> None:
    return None


class Lifecycle:
    """Use as a context manager: the server and database are released on the way out,
    whatever happened."""

    def __init__(self, options: RunOptions, project: Project, progress: Progress, *,
                 root: Path | None = None, report_dir: Path | None = None, annotations: str = "off",
                 on_result: OnResult = _ignore) -> None:
        self.options, self.project, self.progress = options, project, progress
        self.root, self.report_dir, self.annotations = root, report_dir, annotations
        self.on_result = on_result
        self.run = PlanRun(options, project, progress)
        self.base: Base | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Lifecycle:
        self.run.open()
        self._stack.callback(self.run.close)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def measure(self, cases: Cases, phase: str = "") -> list[CaseResult]:
        results = []
        for scenario, case in cases:
            results.append(self.run.run_case(scenario, case))
            self.on_result(results[-1], phase)
        return results

    def base_then_head(self, cases: Cases, head: str, *, under_writer: bool = False,
                       report: bool = True) -> Base:
        """Every case at the open (base) revision, then the database migrated to `head`
        (`under_writer`: under the migration check's writer), where each item will be judged
        against its base measurement."""
        results = self.measure(cases, BASE)
        paths = (write_report(self.report_dir / BASE, self.run.facts, results, self.root)
                 if report and self.report_dir is not None else None)
        facts = replace(self.run.facts)
        self.run.migrate(head, under_writer=under_writer)
        self.run.use_reference(results, f"at revision {facts.revision}")
        document = read_results(paths.results) if paths is not None else None
        self.base = Base(results, facts, paths, document)
        return self.base

    def finish(self, *, report: bool = True, note: str = "",
               review: dict[str, str] | None = None,
               measured: dict[str, Any] | None = None) -> Finished:
        """Items of the baseline gone from the project, the baseline written (with
        --plans-update-baseline on), annotations, the report, and the decision. A capacity
        review gives its `review` (revisions, command) and what it `measured` beside the
        items (write cost, index growth) for the run's facts."""
        run = self.run
        if self.base is None:
            run.note_missing(all_item_ids(self.project))
            if run.results:
                run.save_baseline()
        facts = replace(run.facts, **(measured or {}))
        annotations = (failure_annotations(run.results, self.root, self.annotations)
                       if self.root is not None else [])
        paths = self._report(facts, note, review) if report else None
        if self.base is None:
            decision = decide_run(run.results, facts.missing, run.migration_failures,
                                  set(run.references))
        else:
            head = (read_results(paths.results) if paths is not None
                    else results_document(facts, run.results, self.root))
            decision = decide_comparison(head, self._base_document(), run.migration_failures)
        return Finished(facts, list(run.results), paths, annotations,
                        list(run.migration_failures), self.base, decision)

    def _report(self, facts: RunFacts, note: str,
                review: dict[str, str] | None) -> ReportPaths | None:
        if self.report_dir is None:
            return None
        run = self.run
        if review is not None:
            return write_review_report(self.report_dir, facts, run.results,
                                       self._base_document(), review, self.root)
        before = self._base_document() if self.base is not None else None
        return write_report(self.report_dir, facts, run.results, self.root, before=before,
                            note=note)

    def _base_document(self) -> Document:
        assert self.base is not None
        if self.base.document is not None:
            return self.base.document
        return results_document(self.base.facts, self.base.results, self.root)
