"""`plan-harness init DIR`: a minimal project that runs as it is."""

from __future__ import annotations

import argparse

from harness.cli.exits import EXIT_OK
from harness.project import scaffold


def command(args: argparse.Namespace) -> int:
    directory = args.directory.absolute()
    written = scaffold.write_project(directory, args.ci)
    print(f"wrote a plan-harness project to {directory} ({len(written)} files):")
    for path in written:
        print(f"  {path.relative_to(directory)}")
    print(f"next:\n  plan-harness run --project-dir {args.directory}    "
          "# build the database, check the scenario, write reports/\n"
          f"  cd {args.directory} && pytest -m plans    # the same, as pytest items\n"
          "then replace the schema, generator, profiles and scenario with your own: "
          "docs/writing-a-project.md in the plan-harness repository describes every file")
    if args.ci is not None:
        _, target = scaffold.CI_FILES[args.ci]
        print(f"{target}: runs the plans on every change and, on a "
              f"{'pull' if args.ci == 'github' else 'merge'} request, compares the target "
              "branch's head revision with its own; PLAN_HARNESS_REQUIREMENT in it says which "
              "plan-harness to install")
    if directory / scaffold.GITIGNORE not in written:
        print(f"{scaffold.GITIGNORE} was there already: keep reports/ and "
              ".plan-harness-cache/ out of git")
    return EXIT_OK
