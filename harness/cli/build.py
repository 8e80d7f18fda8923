"""`plan-harness build`: build (or reuse) the database and keep it in the cache, running no
scenario."""

from __future__ import annotations

import argparse

from harness.cli.common import lifecycle, settings_and_selection
from harness.cli.exits import EXIT_OK


def command(args: argparse.Namespace) -> int:
    settings, project, _ = settings_and_selection(args)
    with lifecycle(args, settings, project) as life:
        facts = life.run.facts
    kept = facts.cache or "not kept (this provider keeps no built databases)"
    print(f"profile {settings.profile} at revision {facts.revision}: {kept}")
    return EXIT_OK
