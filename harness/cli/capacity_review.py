"""`plan-harness capacity-review`: the capacity review in one report."""

from __future__ import annotations

import argparse

from harness.cli.common import (
    lifecycle,
    print_lines,
    print_paths,
    project_of,
    settings_and_selection,
)
from harness.cli.exits import exit_code
from harness.errors import HarnessError
from harness.lifecycle import Lifecycle
from harness.options import RunOptions
from harness.workflows.capacity_review import capacity_review, writes_of


def command(args: argparse.Namespace) -> int:
    """Exit codes as compare's: 1 when the head regressed against the base revision (or
    the migration check failed), 2 when items error at both."""
    project = project_of(args)
    writes_of(project)  # refused before a server starts
    base = args.base or project.load_revision
    settings, project, selected = settings_and_selection(args, revision=base)
    if settings.migration_check and not project.migration_writer:
        # said now, not after every case has run at the base revision
        raise HarnessError(f"{project.manifest}: migration_check.writer: missing "
                           "(--plans-migration-check on needs the INSERT it repeats)")
    command = f"plan-harness capacity-review --base {base} --head {args.head} " \
              f"--plans-profile {settings.profile} --plans-seed {settings.seed}"

    def life_of(options: RunOptions) -> Lifecycle:
        return lifecycle(args, settings, project, details=(), options=options)

    finished = capacity_review(settings.run_options(), project, selected, base, args.head,
                               command, life_of)
    assert finished.paths is not None and finished.base is not None
    assert finished.base.paths is not None
    print(finished.paths.summary.read_text(), end="", flush=True)
    print_paths(finished.paths)
    print(f"base report: {finished.base.paths.html}")
    print_lines([f"FAIL  {line}" for line in finished.migration_failures])
    return exit_code(finished.decision)
