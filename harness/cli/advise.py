"""`plan-harness advise`: which indexes the schema should have, measured."""

from __future__ import annotations

import argparse

from harness.cli.common import progress as show
from harness.cli.common import settings_and_selection
from harness.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from harness.errors import ConfigError


def command(args: argparse.Namespace) -> int:
    """0 with the advice written; 1 with --check when the head's set is dominated."""
    from harness.advise.engine import AdviseOptions, advise
    from harness.advise.output import advice_markdown, dominated, write_advice

    settings, project, selected = settings_and_selection(args)
    table = project.advise
    for flag, value in (("--max-size-ratio", args.max_size_ratio),
                        ("--max-write-ratio", args.max_write_ratio)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag}: must be above 0, not {value}")
    for flag, count in (("--max-indexes", args.max_indexes), ("--write-rows", args.write_rows),
                        ("--write-rounds", args.write_rounds)):
        if count is not None and count < (1 if flag == "--write-rows" else 0):
            raise ConfigError(f"{flag}: must be at least "
                              f"{1 if flag == '--write-rows' else 0}, not {count}")
    options = AdviseOptions(
        max_size_ratio=args.max_size_ratio or table.max_size_ratio,
        max_write_ratio=args.max_write_ratio or table.max_write_ratio,
        max_indexes=args.max_indexes if args.max_indexes is not None else table.max_indexes,
        write_rows=args.write_rows, write_rounds=args.write_rounds,
        state_dir=settings.report_dir, fresh=args.fresh)
    advice = advise(settings.run_options(), project, selected, options, show)
    paths = write_advice(settings.report_dir, advice)
    print(advice_markdown(advice, str(paths.migration) if paths.migration else None), end="")
    print(f"report: {paths.html}\nadvice: {paths.json}")
    if paths.migration:
        print(f"migration: {paths.migration}")
    if args.check and dominated(advice):
        print("the head's set is dominated: the advised set reads less at no more write "
              "cost and size")
        return EXIT_FAILED
    return EXIT_OK


__all__ = ["EXIT_USAGE", "command"]
