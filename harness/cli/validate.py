"""`plan-harness validate`: every problem of the project, its scenario files and the settings,
without a database."""

from __future__ import annotations

import argparse
import sys

from harness import preflight
from harness.cli.common import (
    project_of,
    resolve_settings,
)
from harness.cli.exits import EXIT_OK, EXIT_USAGE


def command(args: argparse.Namespace) -> int:
    """Every problem of the project, its scenario files and the settings a run would take
    from the pytest config file and the environment, one line each (exit 2), or ok."""
    root = args.project_dir.resolve()
    settings = resolve_settings(root, {})
    project = project_of(args)
    revisions = [("plans_revision", settings.revision)]
    if settings.base_revision:
        revisions.insert(0, ("plans_base_revision", settings.base_revision))
    inputs = preflight.check_inputs(project, revisions)
    problems = [*inputs.problems,
                *preflight.option_problems(settings.run_options(), project, inputs.profiles),
                *preflight.write_problems([(settings.report_dir, "the report")])]
    for problem in problems:
        print(f"plan-harness: error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_USAGE
    cases = sum(len(s.cases) for s in inputs.scenarios)
    print(f"ok: {len(inputs.scenarios)} scenarios, {cases} cases, "
          f"profiles {', '.join(project.profiles())}")
    return EXIT_OK
