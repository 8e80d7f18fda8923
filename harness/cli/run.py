"""`plan-harness run`: the main job (build or reuse the database, run every scenario, write the
report)."""

from __future__ import annotations

import argparse

from harness.cli.common import (
    print_annotations,
    print_paths,
    progress,
    run_one,
    settings_and_selection,
)
from harness.cli.exits import exit_code
from harness.report.output import (
    load_results,
    write_report,
)
from harness.report.render import counts_line
from harness.run import PlanRun, all_item_ids
from harness.verdict.results import item_id


def command(args: argparse.Namespace) -> int:
    """Exit 0 when every item passed or warned; 1 when a check failed, the migration check
    failed, or an item of the baseline is missing or errors; 2 when, short of that, an item
    could not be measured: a scenario or project that is broken, not a plan that
    regressed."""
    root = args.project_dir.resolve()
    settings, project, selected = settings_and_selection(args)
    with PlanRun(settings.run_options(), project, progress) as run:
        for line in run.migration_failures:
            print(f"FAIL  {line}", flush=True)
        for scenario, case in selected:
            run_one(run, scenario, case, root)
        run.note_missing(all_item_ids(project))
        run.save_baseline()
    print_annotations(run, settings, root)
    paths = write_report(settings.report_dir, run.facts, run.results, root)
    counts = load_results(paths.results)["counts"]
    summary = counts_line(counts)
    if settings.migration_check:
        summary += f"; migration check {'failed' if run.migration_failures else 'passed'}"
    for item in run.facts.missing:
        print(f"FAIL  {item}: in the baseline, no longer in the scenarios", flush=True)
    print(summary)
    print_paths(paths)
    errored = {item_id(r.scenario, r.case) for r in run.results if r.verdict.outcome == "error"}
    # an item the baseline has ran before: its error now is a regression, not bad input
    regressed = bool(counts["fail"] or run.migration_failures or run.facts.missing
                     or errored & set(run.references))
    return exit_code(regressed=regressed, broken=bool(errored))
