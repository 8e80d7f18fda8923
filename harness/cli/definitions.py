"""`plan-harness definitions [--write]`: each expected index's definition at the revision,
beside the one its scenario file recorded; --write records them."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.common import lifecycle, refuse_unwritable, settings_and_selection
from harness.cli.exits import EXIT_OK
from harness.workflows import definitions


def command(args: argparse.Namespace) -> int:
    settings, project, selected = settings_and_selection(args)
    scenarios = list({id(s): s for s, _ in selected}.values())
    if args.write:
        refuse_unwritable({s.path for s in scenarios}, "the index definitions")
    with lifecycle(args, settings, project, details=()) as life:
        catalog = life.run.database.catalog
        assert catalog is not None
        found = definitions.statuses(scenarios, catalog)
    for status in found:
        print(f"{status.path.name}: {status.index}: {status.text}")
    changed = [s for s in found if s.to_write]
    if not args.write:
        print(f"{len(changed)} of {len(found)} expected index definitions to record at "
              f"revision {catalog.revision}; --write records them in the scenario files")
        return EXIT_OK
    by_file: dict[Path, dict[str, str]] = {}
    for status in changed:
        assert status.live is not None
        by_file.setdefault(status.path, {})[status.index] = status.live
    for path, chosen in by_file.items():
        definitions.write_definitions(path, chosen)
    print(f"{len(changed)} definitions recorded at revision {catalog.revision} in "
          f"{len(by_file)} scenario files")
    return EXIT_OK
