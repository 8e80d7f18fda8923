"""CLI: `plan-harness run` (the main job: provision, migrate, load, run every scenario, write
the report), `init`, `validate`, `report`, `compare`, `budgets`, `definitions`,
`mutation-proof`, `capacity-review`, `stats`, `build`, `comment` and `cache`, for people and
CI jobs outside pytest. `run` takes the same --plans-* options as the pytest plugin, from the
same table.

Each command is one module of this package, imported only when it runs: `plan-harness --help`
starts without the database driver, Alembic or Jinja2."""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
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
    "comment": "comment", "cache": "cache", "definitions": "definitions", "advise": "advise",
}

__all__ = ["build_parser", "main", "resolve_settings"]


def resolve_settings(*args: object, **kwargs: object) -> object:
    """harness.cli.common.resolve_settings (kept importable from here)."""
    from harness.cli.common import resolve_settings as resolve

    return resolve(*args, **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) unwinds like Ctrl-C while a command runs, so the
    server stops and the harness database is dropped instead of the process vanishing
    mid-build; the caller's own handler is back afterwards."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """The exit code of one command (also for a bad command line, --help and --version:
    argparse's own exit is returned, not raised)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        with _interrupt_on_sigterm():
            module = importlib.import_module(f"harness.cli.{COMMANDS[args.command]}")
            command = cast(Callable[..., int], module.command)
            return command(args)
    except HarnessError as exc:
        print(f"plan-harness: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("plan-harness: interrupted; server stopped and database removed", file=sys.stderr)
        return EXIT_INTERRUPTED
