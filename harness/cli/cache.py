"""`plan-harness cache list|prune`: the kept built databases."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from harness.build.cache import BuildCache, default_cache_dir, human_size
from harness.cli.exits import EXIT_OK
from harness.errors import HarnessError


def command(args: argparse.Namespace) -> int:
    root = Path(args.cache_dir or os.environ.get("PLAN_HARNESS_CACHE_DIR") or
                default_cache_dir())
    cache = BuildCache(root)
    if args.action == "prune":
        removed = cache.prune(older_than_days=args.older_than,
                              unused_since=_timestamp("--unused-since", args.unused_since))
        print(f"removed {len(removed)} entries from {root}")
        return EXIT_OK
    entries = cache.entries()
    for e in entries:
        print(f"{e.key}  {e.created_at}  {human_size(e.size_bytes):>10}  "
              f"profile={e.inputs.get('profile')} seed={e.inputs.get('seed')} "
              f"revision={e.inputs.get('revision')} postgres={e.inputs.get('postgres')}")
    total = sum(e.size_bytes for e in entries)
    print(f"{len(entries)} entries, {human_size(total)} in {root}")
    return EXIT_OK


def _timestamp(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HarnessError(f"{flag}: {text!r} is not an ISO 8601 time "
                           "(e.g. 2026-11-30T10:00:00)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
