"""`plan-harness budgets [--write]`: per-case budgets proposed from what a run measured."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from harness.build.distributed import budget_key
from harness.cli.common import lifecycle, settings_and_selection
from harness.cli.exits import EXIT_OK
from harness.workflows import budgets


def command(args: argparse.Namespace) -> int:
    settings, project, selected = settings_and_selection(args)
    with lifecycle(args, settings, project, details=()) as life:
        results = life.measure(selected)
        # the key a run's budgets are read by: the profile (on a cluster, `ci@citus`)
        profile = budget_key(settings.profile, life.run.database.provider)
    proposals = budgets.propose(results)
    print(f"\n{'item':60} {'buffers':>9} {'p95 ms':>8}  ->  budget buffers, p95 ms")
    for p in proposals:
        print(f"{p.item:60} {p.shared_buffers:9,} {p.p95_ms:8.2f}  ->  {p.budget_buffers:,}, "
              f"{p.budget_p95_ms}")
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
