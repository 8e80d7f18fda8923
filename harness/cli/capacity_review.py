"""`plan-harness capacity-review`: the capacity review in one report."""

from __future__ import annotations

import argparse

from harness.cli.common import (
    print_paths,
    progress,
    project_of,
    settings_and_selection,
)
from harness.cli.exits import exit_code
from harness.errors import HarnessError
from harness.report.analysis import compare
from harness.report.output import (
    load_results,
    write_report,
    write_review_report,
)
from harness.verdict.results import CaseResult, item_id
from harness.workflows.capacity_review import capacity_review, writes_of


def command(args: argparse.Namespace) -> int:
    """Exit codes as compare's: 1 when the head regressed against the revision before (or
    the migration check failed), 2 when items error at both."""
    root = args.project_dir.resolve()
    project = project_of(args)
    writes_of(project)  # refused before a server starts
    before = args.before or project.load_revision
    settings, project, selected = settings_and_selection(args, revision=before)
    if settings.migration_check and not project.migration_writer:
        # said now, not after every case has run at the revision before
        raise HarnessError(f"{project.manifest}: migration_check.writer: missing "
                           "(--plans-migration-check on needs the INSERT it repeats)")
    command = f"plan-harness capacity-review --before {before} --head {args.head} " \
              f"--plans-profile {settings.profile} --plans-seed {settings.seed}"

    def show(result: CaseResult, phase: str) -> None:
        verdict = result.verdict
        line = f"{verdict.outcome.upper():5} {phase} {item_id(result.scenario, result.case)}"
        print(f"{line}: {verdict.first_reason}" if verdict.first_reason else line, flush=True)

    review = capacity_review(settings.run_options(), project, selected, before, args.head, command,
                             progress, show)
    base = write_report(settings.report_dir / "before", review.before_facts, review.before,
                        root)
    before_document = load_results(base.results)
    paths = write_review_report(
        settings.report_dir, review.head_facts, review.head, before_document,
        {"before_revision": review.before_facts.revision,
         "head_revision": review.head_facts.revision, "command": command}, root)
    print(paths.summary.read_text(), end="", flush=True)
    print_paths(paths)
    print(f"before report: {base.html}")
    for line in review.migration_failures:
        print(f"FAIL  {line}", flush=True)
    comparison = compare(load_results(paths.results), before_document)
    return exit_code(regressed=bool(comparison.regressed or review.migration_failures),
                     broken=bool(comparison.broken_everywhere))
