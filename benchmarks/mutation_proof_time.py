"""Benchmark: `plan-harness mutation-proof` wall time at an earlier revision and at this tree,
side by side, on the same warm build cache.

    python benchmarks/mutation_proof_time.py --before f0b51d2^ --runs 2

The earlier revision is checked out into a temporary git worktree; each run is a new
process importing the harness from one tree (run in it, PYTHONPATH first), on the CSR
project at `ci` with one timed execution a plan mode. Runs alternate between the trees; the
first, untimed, builds the cache. Medians and each run's tally go to
benchmarks/results/mutation_proof_time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from worktrees import ROOT, earlier_tree


def one_run(tree: Path, cache: Path, reports: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PLAN_HARNESS_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "mutation-proof", "--project-dir", str(ROOT),
         "--plans-runs", "1", "--plans-warmup", "0", "--plans-report-dir", str(reports)],
        cwd=tree, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{tree}: exit {result.returncode}: {result.stderr[-2000:]}")
    tally = json.loads((reports / "mutation-proof.json").read_text()).get("tally", {})
    return round(wall, 1), json.dumps(tally, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, metavar="REV")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-harness-mutation-time-") as folder, \
            earlier_tree(args.before, Path(folder) / "before") as before:
        cache = Path(folder) / "cache"
        trees = {"before": before, "after": ROOT}
        one_run(ROOT, cache, Path(folder) / "warm")  # builds the cache, not timed
        runs: dict[str, list[tuple[float, str]]] = {k: [] for k in trees}
        for i in range(args.runs):
            for name, tree in trees.items():
                runs[name].append(one_run(tree, cache, Path(folder) / f"{name}-{i}"))
                print(name, runs[name][-1], flush=True)
    document = {
        "command": f"python benchmarks/mutation_proof_time.py --before {args.before} "
                   f"--runs {args.runs}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        **{name: {"wall_s": [r[0] for r in rs], "median_wall_s": statistics.median(
            r[0] for r in rs), "tally": rs[0][1]} for name, rs in runs.items()},
    }
    out = ROOT / "benchmarks" / "results" / "mutation_proof_time.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
