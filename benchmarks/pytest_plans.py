"""Benchmark: wall time and peak memory of `pytest -m plans`, cold and warm.

Each run is a new pytest process: start the embedded server, then either build the database
(migrate, seed, vacuum) or reuse it from the seeded-database cache, run every scenario case,
write the report. The script starts with an empty cache directory of its own, so the first
run is cold (it seeds and keeps the result); the next ones are warm (they reuse it).
`--cache off` makes every run seed (a rerun then repeats all the work).

    python benchmarks/pytest_plans.py --profile ci --runs 3
    python benchmarks/pytest_plans.py --profile dev --runs 2

Peak memory is the maximum resident set size of the pytest process itself (the harness),
and separately of the largest PostgreSQL process it started.
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

ROOT = Path(__file__).resolve().parent.parent
# Runs pytest in this process and reports its own and its children's peak RSS on exit.
PROBE = """
import resource, sys, pytest
code = pytest.main(sys.argv[1:])
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"@@peak {self_kb} {children_kb}", flush=True)
sys.exit(code)
"""


def one_run(report_dir: Path, profile: str, cache: str, cache_dir: Path,
            ) -> dict[str, float | int]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "scenarios", "-m", "plans", "-q", "-p", "no:cacheprovider",
         "--plans-profile", profile, "--plans-report-dir", str(report_dir),
         "--plans-cache", cache, "--plans-cache-dir", str(cache_dir)],
        cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    peak = next(line for line in result.stdout.splitlines() if line.startswith("@@peak"))
    self_kb, children_kb = (int(x) for x in peak.split()[1:])
    lines = result.stdout.splitlines()
    summary = [line for line in lines if " passed" in line or " failed" in line]
    ready = [line for line in lines if "plan-harness: ready in" in line]
    return {"exit_code": result.returncode, "wall_s": round(wall, 2),
            "ready_s": float(ready[-1].split()[-2]) if ready else -1.0,
            "harness_peak_rss_mib": round(self_kb / 1024, 1),
            "largest_postgres_rss_mib": round(children_kb / 1024, 1),
            "summary": summary[-1] if summary else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/results/pytest_plans_<profile>.json")
    args = parser.parse_args()
    out = args.out or ROOT / "benchmarks" / "results" / f"pytest_plans_{args.profile}.json"
    runs = []
    with tempfile.TemporaryDirectory(prefix="plan-harness-bench-cache-") as cache_dir:
        for i in range(args.runs):
            run = one_run(Path("/tmp") / f"plan-harness-bench-{args.profile}-{i}", args.profile,
                          args.cache, Path(cache_dir))
            run["kind"] = "cold" if i == 0 else ("warm" if args.cache == "on" else "rerun")
            print(json.dumps(run), flush=True)
            runs.append(run)
    reruns = [r for r in runs if r["kind"] != "cold"]
    document = {
        "command": f"python benchmarks/pytest_plans.py --profile {args.profile} "
                   f"--runs {args.runs} --cache {args.cache}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "cold_wall_s": runs[0]["wall_s"],
        "rerun_median_wall_s": statistics.median(r["wall_s"] for r in reruns) if reruns else None,
        "harness_peak_rss_mib_max": max(r["harness_peak_rss_mib"] for r in runs),
    }
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
