"""`plan-harness budgets [--write]`: per-case budgets proposed from what a run measured."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from harness.build.distributed import budget_key
from harness.cli.common import lifecycle, refuse_unwritable, settings_and_selection
from harness.cli.exits import EXIT_OK
from harness.workflows import budgets


def command(args: argparse.Namespace) -> int:
    settings, project, selected = settings_and_selection(args)
    if args.write:
        refuse_unwritable({scenario.path for scenario, _ in selected} | {project.manifest},
                          "the budgets")
    with lifecycle(args, settings, project, details=()) as life:
        results = life.measure(selected)
        # the key a run's budgets are read by: the profile (on a cluster, `ci@citus`)
        profile = budget_key(settings.profile, life.run.database.provider)
    proposals = budgets.propose(results, profile)
    _print_proposals(proposals)
    canaries = [m.canary.median_ms for r in results for m in r.measurements if m.canary]
    canary = statistics.median(canaries) if canaries else None
    if canary is not None:
        print(f"noise canary: median {canary:.3f} ms over {len(canaries)} plan modes")
    if not args.write:
        print(f"{len(proposals)} budgets proposed for profile {profile}; --write puts "
              "them into the scenario files")
        return EXIT_OK
    by_file: dict[Path, list[budgets.Proposal]] = {}
    for p in proposals:
        by_file.setdefault(p.path, []).append(p)
    for path, chosen in by_file.items():
        budgets.write_case_budgets(path, profile, chosen)
    if profile != settings.profile:
        canary = None  # the project's canary is one node's: a cluster's run leaves it
    if canary is not None:
        budgets.record_canary(project.manifest, canary)
    print(f"{len(proposals)} case budgets for profile {profile} written to "
          f"{len(by_file)} scenario files" + ("" if canary is None else
                                              f"; canary_ms recorded in {project.manifest}"))
    return EXIT_OK


def _print_proposals(proposals: list[budgets.Proposal]) -> None:
    print(f"\n{'item':56} {'mode':8} {'buffers':>9} {'p95 ms':>8}  "
          "budget now -> proposed (buffers, p95 ms)")
    for p in proposals:
        for m in p.modes:
            now = (f"{_figure(m.current_buffers)}, {_figure(m.current_p95_ms)}"
                   if m.current_buffers or m.current_p95_ms else "none")
            print(f"{p.item:56} {m.mode:8} {m.shared_buffers:9,} {m.p95_ms:8.2f}  "
                  f"{now} -> {m.budget_buffers:,}, {m.budget_p95_ms}")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:,g}"
