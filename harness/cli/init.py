"""`plan-harness init DIR`: a minimal project that runs as it is."""

from __future__ import annotations

import argparse

from harness.cli.exits import EXIT_OK
from harness.project import scaffold


def command(args: argparse.Namespace) -> int:
    directory = args.directory.absolute()
    written = scaffold.write_project(directory)
    print(f"wrote a plan-harness project to {directory} ({len(written)} files):")
    for path in written:
        print(f"  {path.relative_to(directory)}")
    print(f"next:\n  plan-harness run --project-dir {args.directory}    "
          "# build the database, check the scenario, write reports/\n"
          f"  cd {args.directory} && pytest -m plans    # the same, as pytest items\n"
          "then replace the schema, generator, profiles and scenario with your own: "
          "docs/writing-a-project.md in the plan-harness repository describes every file")
    return EXIT_OK
