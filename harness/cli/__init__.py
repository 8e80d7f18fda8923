"""CLI: `plan-harness run` (the main job: provision, migrate, load, run every scenario, write
the report), `init`, `validate`, `report`, `compare`, `budgets`, `mutation-proof`,
`capacity-review`, `stats`, `build`, `comment` and `cache`, for people and CI jobs outside
pytest. `run` takes the same --plans-* options as the pytest plugin, from the same table.

Each command is one module of this package, imported only when it runs: `plan-harness --help`
starts without the database driver, Alembic or Jinja2."""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import cast

from harness.cli.exits import EXIT_INTERRUPTED, EXIT_USAGE
from harness.cli.parser import build_parser
from harness.errors import HarnessError

# command -> the module whose `command(args)` runs it
COMMANDS = {
    "run": "run", "init": "init", "validate": "validate", "report": "report",
    "compare": "compare", "budgets": "budgets", "mutation-proof": "mutation_proof",
    "capacity-review": "capacity_review", "stats": "stats", "build": "build",
    "comment": "comment", "cache": "cache",
}

__all__ = ["build_parser", "main", "resolve_settings"]


def resolve_settings(*args: object, **kwargs: object) -> object:
    """harness.cli.common.resolve_settings (kept importable from here)."""
    from harness.cli.common import resolve_settings as resolve

    return resolve(*args, **kwargs)  # type: ignore[arg-type]


def _interrupt_on_sigterm() -> None:
    # SIGTERM (a CI job cancelled, `kill`) unwinds like Ctrl-C, so the server stops and the
    # harness database is dropped instead of the process vanishing mid-build.
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _interrupt_on_sigterm()
    try:
        module = importlib.import_module(f"harness.cli.{COMMANDS[args.command]}")
        command = cast(Callable[..., int], module.command)
        return command(args)
    except HarnessError as exc:
        print(f"plan-harness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("plan-harness: interrupted; server stopped and database removed", file=sys.stderr)
        return EXIT_INTERRUPTED
