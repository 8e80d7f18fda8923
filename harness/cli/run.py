"""`plan-harness run`: the main job (build or reuse the database, run every scenario, write
the report)."""

from __future__ import annotations

import argparse

from harness.cli.common import lifecycle, print_lines, print_paths, settings_and_selection
from harness.cli.exits import exit_code
from harness.report.render import counts_line


def command(args: argparse.Namespace) -> int:
    """Exit 0 when every item passed or warned; 1 when a check failed, the migration check
    failed, or an item of the baseline is missing or errors; 2 when, short of that, an item
    could not be measured: a scenario or project that is broken, not a plan that
    regressed."""
    settings, project, selected = settings_and_selection(args)
    with lifecycle(args, settings, project) as life:
        print_lines([f"FAIL  {line}" for line in life.run.migration_failures])
        life.measure(selected)
        finished = life.finish()
    print_lines(finished.annotations)
    assert finished.paths is not None
    summary = counts_line(finished.counts)
    if settings.migration_check:
        summary += f"; migration check {'failed' if finished.migration_failures else 'passed'}"
    print_lines([f"FAIL  {item}: in the baseline, no longer in the scenarios"
                 for item in finished.facts.missing])
    print(summary)
    print_paths(finished.paths)
    return exit_code(finished.decision)
