"""`plan-harness build`: build (or reuse) the database and keep it in the cache, running no
scenario."""

from __future__ import annotations

import argparse

from harness.cli.common import (
    progress,
    settings_and_selection,
)
from harness.cli.exits import EXIT_OK
from harness.run import PlanRun


def command(args: argparse.Namespace) -> int:
    settings, project, _ = settings_and_selection(args)
    with PlanRun(settings.run_options(), project, progress) as run:
        kept = run.facts.cache or "not kept (the cache is used with the embedded provider only)"
    print(f"profile {settings.profile} at revision {run.facts.revision}: {kept}")
    return EXIT_OK
