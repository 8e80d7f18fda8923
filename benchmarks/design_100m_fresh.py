"""`plan-harness run --plans-profile design-100m` as on a fresh clone: the committed tree in a
new directory, an empty seeded-database cache, so the ci database is built from nothing and
the projected statistics come from the committed fixtures/stats/capacity.json.

    python benchmarks/design_100m_fresh.py [--runs 3]

Each run gets its own copy and cache. Wall time is the whole command (start-up, ci build,
padding, statistics, planning every scenario, report). Results go to
results/design_100m_fresh.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAN_HARNESS = Path(sys.executable).parent / "plan-harness"


def fresh_clone(target: Path) -> None:
    """The committed tree (HEAD), as `git clone` would give it, without its history."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "x", "-C", str(target)], input=archive, check=True)


def one_run(number: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="design-100m-") as tmp:
        clone, cache = Path(tmp) / "clone", Path(tmp) / "cache"
        clone.mkdir()
        fresh_clone(clone)
        started = time.monotonic()
        result = subprocess.run([str(PLAN_HARNESS), "run", "--plans-profile", "design-100m"],
                                cwd=clone, capture_output=True, text=True, check=False,
                                env={**os.environ, "PLAN_HARNESS_CACHE_DIR": str(cache)})
        seconds = time.monotonic() - started
        ready = re.findall(r"ready in ([\d.]+) s", result.stderr)
        summary = result.stdout.strip().splitlines()
        print(f"run {number}: {seconds:.1f} s, exit {result.returncode}", file=sys.stderr)
        if result.returncode not in (0, 1):
            sys.exit(f"run {number} failed: {result.stderr.strip()[-2000:]}")
        return {"seconds": round(seconds, 1), "exit": result.returncode,
                "ready_seconds": [float(r) for r in ready],
                "captured_capacity": "capturing the statistics of profile" in result.stderr,
                "summary": next((s for s in summary if " passed, " in s), "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "design_100m_fresh.json")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.strip()
    runs = [one_run(n + 1) for n in range(args.runs)]
    seconds = [float(str(r["seconds"])) for r in runs]
    document = {
        "command": f"python benchmarks/design_100m_fresh.py --runs {args.runs}",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "target_seconds": 60,
        "median_seconds": round(statistics.median(seconds), 1),
        "max_seconds": max(seconds),
        "runs": runs,
    }
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: v for k, v in document.items() if k != "runs"}))


if __name__ == "__main__":
    main()
