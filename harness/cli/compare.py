"""`plan-harness compare`: every case at a base revision and at the head, on one database,
and what changed."""

from __future__ import annotations

import argparse
import contextlib
import sys

from harness.build.base_ref import head_at_ref
from harness.build.migrations import Revisions
from harness.cli.common import (
    lifecycle,
    print_lines,
    print_paths,
    progress,
    project_of,
    settings_and_selection,
)
from harness.cli.exits import EXIT_OK, exit_code
from harness.errors import HarnessError
from harness.lifecycle import HEAD


def command(args: argparse.Namespace) -> int:
    """Base, migrate, head, on one database. Exit 1 when the head regressed (an item got
    worse, errors or is missing at head, reads more buffers beyond the tolerance, or got
    slower beyond the noise; or the migration check failed), not for failures both share;
    2 when items fail at both revisions with nothing regressed (the scenario is broken)."""
    if args.base_ref is not None:
        args.base = base_of_ref(args)
        if args.base == Revisions(project_of(args).migrations_dir).resolve(args.head):
            print(f"no migration since {args.base_ref} (both at {args.base}): nothing to "
                  "compare; the plans at this revision are `plan-harness run`'s to check")
            return EXIT_OK
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


def base_of_ref(args: argparse.Namespace) -> str:
    """--base-ref REF: the head revision of the migrations at REF, which the head must
    descend from (a request that is not rebased on its target cannot be compared)."""
    migrations = project_of(args).migrations_dir
    base = head_at_ref(migrations, args.base_ref)
    revisions = Revisions(migrations)
    try:
        descends = revisions.is_at_or_after(args.head, base)
    except HarnessError:
        descends = False
    if not descends:
        raise HarnessError(
            f"--base-ref {args.base_ref}: its head revision {base} is not in this branch's "
            f"migration chain up to {args.head} (rebase onto {args.base_ref})")
    progress(f"base revision {base}: the head of the migrations at {args.base_ref}")
    return base
