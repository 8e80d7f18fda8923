"""`plan-harness compare`: every case at a base revision and at the head, on one database,
and what changed."""

from __future__ import annotations

import argparse
import contextlib
import sys

from harness.cli.common import lifecycle, print_lines, print_paths, settings_and_selection
from harness.cli.exits import exit_code
from harness.lifecycle import HEAD


def command(args: argparse.Namespace) -> int:
    """Base, migrate, head, on one database. Exit 1 when the head regressed (an item got
    worse, errors or is missing at head, reads more buffers beyond the tolerance, or got
    slower beyond the noise; or the migration check failed), not for failures both share;
    2 when items fail at both revisions with nothing regressed (the scenario is broken)."""
    settings, project, selected = settings_and_selection(args, revision=args.base)
    aside = (contextlib.redirect_stdout(sys.stderr) if args.markdown_only
             else contextlib.nullcontext(sys.stdout))
    with aside, lifecycle(args, settings, project, details=(HEAD,),
                          migration_check=False) as life:
        base = life.base_then_head(selected, args.head, under_writer=settings.migration_check)
        print_lines([f"FAIL  {line}" for line in life.run.migration_failures])
        life.measure(selected, HEAD)
        finished = life.finish()
    print_lines(finished.annotations)
    assert finished.paths is not None and base.paths is not None
    print(finished.paths.summary.read_text(), end="", flush=True)
    with aside:
        print_paths(finished.paths)
        print(f"base report: {base.paths.html}")
    return exit_code(finished.decision)
