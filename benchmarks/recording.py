"""What the benchmarks that record into a run's results.json share: the --results and
--reuse options, and taking the committed measurement instead of measuring again."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Attach = Callable[[Path, dict[str, Any], str], None]


def add_results_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=None,
                        help="also record the measurement in this results.json")
    parser.add_argument("--reuse", action="store_true",
                        help="with --results: take the committed measurement of --profile")


def reused(parser: argparse.ArgumentParser, args: argparse.Namespace, committed: Path,
           attach: Attach) -> bool:
    """With --reuse: records the committed measurement and says so (the caller stops)."""
    if not args.reuse:
        return False
    if args.results is None:
        parser.error("--reuse needs --results")
    attach(args.results, json.loads(committed.read_text()), args.profile)
    return True
