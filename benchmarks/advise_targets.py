"""`plan-harness advise` against its targets: the advised set beside the design document's
(the project's head set), its runtime with the built database cached, and its stability
across seeds.

    python benchmarks/advise_targets.py [--profile capacity-skewed] [--seeds 1 2]

Runs `plan-harness advise --plans-profile P --plans-seed N` once per seed (each seed is its
own build, kept in the cache: build it first with `plan-harness build` to time the advice
alone) and records each run's summary (geometric means of shared buffers and p50 over cases
and modes, WAL bytes per written row, total size, head set against chosen set) and wall
time. With two seeds or more it says whether the chosen sets' gmean buffers and sizes are
within 10% and differ by at most one index. Results go to results/advise_<profile>.json."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def advise(profile: str, seed: int, report_dir: Path) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "advise", "--plans-profile",
                           profile, "--plans-seed", str(seed), "--fresh",
                           f"--plans-report-dir={report_dir}"], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = round(time.monotonic() - started, 1)
    path = report_dir / "advice.json"
    if not path.exists():
        return {"seed": seed, "exit": done.returncode, "seconds": seconds,
                "error": done.stderr.strip().splitlines()[-1:] or ["no output"]}
    advice = json.loads(path.read_text())
    return {"seed": seed, "exit": done.returncode, "seconds": seconds,
            "summary": advice["summary"], "add": advice["add"], "drop": advice["drop"],
            "chosen_set": advice["chosen_set"], "head_set": advice["head_set"],
            "estimated_picks_that_regressed": advice["estimated_picks_that_regressed"]}


def stability(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    measured = [r for r in runs if "summary" in r]
    if len(measured) < 2:
        return None
    first, *others = measured
    def within(key: str) -> bool:
        return all(abs(o["summary"][key] / first["summary"][key] - 1) <= 0.10 for o in others)
    differ = max(len(set(first["chosen_set"]) ^ set(o["chosen_set"])) for o in others)
    return {"gmean_buffers_within_10pct": within("gmean_buffers_chosen"),
            "size_within_10pct": within("size_chosen"),
            "indexes_differing": differ, "stable": differ <= 1 and within(
                "gmean_buffers_chosen") and within("size_chosen")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="capacity-skewed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--add", action="store_true",
                        help="keep the runs of other seeds already in the results file")
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "results" / f"advise_{args.profile}.json"
    kept = [r for r in json.loads(out.read_text())["runs"] if r["seed"] not in args.seeds] \
        if args.add and out.exists() else []
    with tempfile.TemporaryDirectory(prefix="plan-harness-advise-") as name:
        runs = list(kept)
        for seed in args.seeds:
            runs.append(advise(args.profile, seed, Path(name) / f"seed-{seed}"))
            print(json.dumps(runs[-1].get("summary", runs[-1])), flush=True)
    document = {
        "command": f"python benchmarks/advise_targets.py --profile {args.profile} --seeds "
                   + " ".join(str(r["seed"]) for r in runs),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs, "stability": stability(runs),
    }
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
