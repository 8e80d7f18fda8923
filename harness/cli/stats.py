"""`plan-harness stats capture|stamp`: planner statistics to a file, and the fidelity check
that lets a projected run gate."""

from __future__ import annotations

import argparse

from harness.cli.common import lifecycle, progress, settings_and_selection
from harness.cli.exits import EXIT_OK, exit_code
from harness.errors import HarnessError
from harness.statistics.capture import capture, write_statistics
from harness.verdict.decision import Decision
from harness.workflows import stamp as stats_stamp


def command(args: argparse.Namespace) -> int:
    if args.action == "stamp":
        return command_stats_stamp(args)
    if args.onto is not None:
        raise HarnessError("stats capture: --onto is for stats stamp")
    settings, project, _ = settings_and_selection(args)
    with lifecycle(args, settings, project) as life:
        run = life.run
        label = (f"{run.facts.server}, revision {run.facts.revision}"
                 + ("" if run.existing_db else f", profile {settings.profile}, "
                    f"seed {settings.seed}"))
        statistics = capture(run.connection, label, project.anchors,
                             project.profile(settings.profile).planner, project.manifest)
    write_statistics(args.out, statistics)
    tables = sum(1 for r in statistics["relations"] if r["kind"] == "table")
    print(f"statistics of {tables} tables, {len(statistics['relations']) - tables} indexes "
          f"and {len(statistics['columns'])} columns written to {args.out}")
    return EXIT_OK


def command_stats_stamp(args: argparse.Namespace) -> int:
    """Exit 0 when every plan agreed (the file gates), 1 when one did not (the file is
    written all the same: a projected run with it is a preview)."""
    if args.onto is None:
        raise HarnessError("stats stamp: --onto PROFILE is missing (the small profile the "
                           "statistics are projected onto)")
    settings, project, _ = settings_and_selection(args)
    stats_stamp.check_profiles(project, settings.profile, args.onto)
    stamped = stats_stamp.stamp(settings.run_options(), project, args.onto, progress)
    fidelity = stamped.fidelity
    for d in fidelity.disagreements:
        print(f"DIFFER {d.item} {d.mode}: {settings.profile} {d.real}; projected onto "
              f"{args.onto} {d.projected}", flush=True)
    for item in fidelity.missing:
        print(f"MISSING {item}: planned on one side only", flush=True)
    costs = fidelity.cost_summary()
    write_statistics(args.out, stamped.statistics)
    print(f"{fidelity.agreed} of {fidelity.compared} plans agreed projected onto {args.onto} "
          f"at revision {stamped.statistics['fidelity']['revision']}"
          + (f" (cost of agreeing plans: median x{costs['median_ratio']}, worst factor "
             f"{costs['worst_factor']})" if costs else "")
          + f"; statistics with this check written to {args.out}")
    agreed = fidelity.agreed == fidelity.compared != 0 and not fidelity.missing
    return exit_code(Decision(regressed=not agreed))
