"""`plan-harness report`: index.html and summary.md from a saved results.json, or the history
of several."""

from __future__ import annotations

import argparse
import sys

from harness.cli.common import (
    print_paths,
)
from harness.cli.exits import EXIT_OK
from harness.errors import HarnessError
from harness.report.history import read_history, write_history
from harness.report.output import (
    rerender,
)


def command(args: argparse.Namespace) -> int:
    if (args.results is None) == (args.history is None):
        raise HarnessError("report: give RESULTS.json or --history DIR (one of them)")
    if args.history is not None:
        if args.compare is not None:
            raise HarnessError("report: --compare compares two runs; --history draws a series")
        history = read_history(args.history)
        for skipped in history.skipped:
            print(f"plan-harness: skipped {skipped}", file=sys.stderr)
        path = write_history(history, args.out or args.history)
        print(f"history of {len(history.rows)} item plan modes over {len(history.runs)} runs: "
              f"{path}")
        return EXIT_OK
    paths = rerender(args.results, args.out, args.compare)
    print_paths(paths)
    return EXIT_OK
