"""Benchmark: how long `plan-harness --help` takes to start, and what it imports, at an
earlier revision and at this tree, side by side.

    python benchmarks/startup.py --before cc42825 --runs 15

The earlier revision is checked out into a temporary git worktree; each run is a new Python
process importing the harness from one tree (PYTHONPATH first) and printing the help. Runs
alternate between the two trees, so a busy moment of the machine falls on both alike. The
medians and their ratio go to benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worktrees import ROOT, earlier_tree

HEAVY = ("sqlalchemy", "alembic", "psycopg", "jinja2", "faker")
PROBE = ("import sys, time\nstarted = time.perf_counter()\nfrom harness.cli import main\n"
         "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
         "print('@@', time.perf_counter() - started, "
         f"sorted(m for m in {HEAVY!r} if m in sys.modules), "
         "__import__('harness').__file__)")


def one_start(tree: Path) -> tuple[float, float, list[str]]:
    """Wall seconds of the whole process, seconds inside it, the heavy packages imported."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, env=env,
                            capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    line = next(x for x in result.stdout.splitlines() if x.startswith("@@"))
    _, inside, rest = line.split(" ", 2)
    imported, origin = rest.rsplit(" ", 1)
    if not origin.startswith(str(tree)):
        raise SystemExit(f"{tree}: harness was imported from {origin}, not from the tree")
    return wall, float(inside), json.loads(imported.replace("'", '"'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, metavar="REV")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-harness-startup-") as folder, \
            earlier_tree(args.before, Path(folder) / "before") as before:
        trees = {"before": before, "after": ROOT}
        samples: dict[str, list[tuple[float, float, list[str]]]] = {k: [] for k in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                samples[name].append(one_start(tree))
    summary = {name: {"median_wall_s": round(statistics.median(s[0] for s in runs), 3),
                      "median_in_process_s": round(statistics.median(s[1] for s in runs), 3),
                      "heavy_imports": runs[0][2]}
               for name, runs in samples.items()}
    document = {
        "command": f"python benchmarks/startup.py --before {args.before} --runs {args.runs}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "before_rev": args.before,
        **summary,
        "wall_ratio_before_over_after": round(summary["before"]["median_wall_s"]
                                              / summary["after"]["median_wall_s"], 2),
        "samples_wall_s": {k: [round(s[0], 3) for s in v] for k, v in samples.items()},
    }
    out = ROOT / "benchmarks" / "results" / "startup.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
