"""`plan-harness compare`: every case at a base revision and at the head, on one database, and
what changed."""

from __future__ import annotations

import argparse
import contextlib
import sys

from harness.cli.common import (
    print_annotations,
    print_paths,
    progress,
    run_one,
    settings_and_selection,
)
from harness.cli.exits import exit_code
from harness.report.analysis import compare
from harness.report.output import (
    load_results,
    write_report,
)
from harness.run import PlanRun


def command(args: argparse.Namespace) -> int:
    """Base, migrate, head, on one database. Exit 1 when the head regressed (an item got
    worse, errors or is missing at head, reads more buffers beyond the tolerance, or got
    slower beyond the noise; or the migration check failed), not for failures both share;
    2 when items fail at both revisions with nothing regressed (the scenario is broken)."""
    root = args.project_dir.resolve()
    settings, project, selected = settings_and_selection(args, revision=args.base)
    aside = (contextlib.redirect_stdout(sys.stderr) if args.markdown_only
             else contextlib.nullcontext(sys.stdout))
    with aside, PlanRun(settings.run_options(migration_check=False), project, progress) as run:
        for scenario, case in selected:
            run_one(run, scenario, case, root, prefix="base ", details=False)
        base = write_report(settings.report_dir / "base", run.facts, run.results, root)
        base_revision, base_results = run.facts.revision, list(run.results)
        run.migrate(args.head, under_load=settings.migration_check)
        run.use_reference(base_results, f"at revision {base_revision}")
        for line in run.migration_failures:
            print(f"FAIL  {line}", flush=True)
        for scenario, case in selected:
            run_one(run, scenario, case, root, prefix="head ")
    print_annotations(run, settings, root)
    before = load_results(base.results)
    paths = write_report(settings.report_dir, run.facts, run.results, root, before=before)
    print(paths.summary.read_text(), end="", flush=True)
    with (contextlib.redirect_stdout(sys.stderr) if args.markdown_only
          else contextlib.nullcontext(sys.stdout)):
        print_paths(paths)
        print(f"base report: {base.html}")
    comparison = compare(load_results(paths.results), before)
    return exit_code(regressed=bool(comparison.regressed or run.migration_failures),
                     broken=bool(comparison.broken_everywhere))
