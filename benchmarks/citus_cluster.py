"""The ci profile on a local Citus cluster (--plans-provider citus) against one node: time to
ready (the cluster started and loaded from the single-node build, or started on a kept
cluster) and the whole run's time, beside the single-node build's.

    sh tools/install-citus.sh && python benchmarks/citus_cluster.py [--runs 2]

Each round starts from an empty cache: `plan-harness run` on one node (builds the database,
keeping the loaded one at the load revision), then on the cluster twice (the first copies
that kept build through the coordinator and keeps the cluster, the second starts on the
kept cluster). Results go to results/citus_cluster.json.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLAN_HARNESS = Path(sys.executable).parent / "plan-harness"
# the cluster build's stages as its progress lines time them
STAGES = {
    "distribute": r"distributed \d+ tables over \d+ shards: ([\d.]+) s",
    "copy": r"copied \d+ tables from the single-node build through the coordinator: ([\d.]+) s",
    "keys_and_indexes": r"keys and indexes built on every shard .*: ([\d.]+) s",
    "vacuum_analyze": r"vacuum analyze on every shard: ([\d.]+) s",
}


def timed_run(cache: Path, report: Path, *args: str) -> dict[str, Any]:
    started = time.monotonic()
    result = subprocess.run([str(PLAN_HARNESS), "run", "--plans-report-dir", str(report), *args],
                            cwd=ROOT, capture_output=True, text=True, check=False,
                            env={**os.environ, "PLAN_HARNESS_CACHE_DIR": str(cache)})
    seconds = time.monotonic() - started
    if result.returncode not in (0, 1):
        sys.exit(f"plan-harness run {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")
    ready = [float(r) for r in re.findall(r"ready in ([\d.]+) s", result.stderr)]
    stages = {name: float(found[0]) for name, pattern in STAGES.items()
              if (found := re.findall(pattern, result.stderr))}
    summary = next((s for s in result.stdout.splitlines() if " passed" in s), "")
    return {"seconds": round(seconds, 1), "ready_seconds": ready[-1] if ready else None,
            "measuring_seconds": round(seconds - ready[-1], 1) if ready else None,
            "stages": stages, "summary": summary, "exit": result.returncode}


def one_round(number: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="citus-bench-") as tmp:
        cache = Path(tmp) / "cache"
        single = timed_run(cache, Path(tmp) / "single")
        cold = timed_run(cache, Path(tmp) / "cold", "--plans-provider", "citus")
        kept = timed_run(cache, Path(tmp) / "kept", "--plans-provider", "citus")
    print(f"round {number}: one node ready in {single['ready_seconds']} s, cluster "
          f"{cold['ready_seconds']} s (from the kept single-node build), "
          f"{kept['ready_seconds']} s (kept cluster)", file=sys.stderr)
    return {"single_node": single, "cluster_from_single_node_build": cold,
            "cluster_kept": kept}


def _median(rounds: list[dict[str, Any]], kind: str, field: str) -> float | None:
    values = [float(r[kind][field]) for r in rounds if r[kind][field] is not None]
    return round(statistics.median(values), 1) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "citus_cluster.json")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.strip()
    rounds = [one_round(n + 1) for n in range(args.runs)]
    kinds = ("single_node", "cluster_from_single_node_build", "cluster_kept")
    document = {
        "command": f"python benchmarks/citus_cluster.py --runs {args.runs}",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "profile": "ci",
        "median_ready_seconds": {k: _median(rounds, k, "ready_seconds") for k in kinds},
        "median_run_seconds": {k: _median(rounds, k, "seconds") for k in kinds},
        "rounds": rounds,
    }
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: v for k, v in document.items() if k != "rounds"}))


if __name__ == "__main__":
    main()
