"""Budgets that hold beyond the data they were written from: the CSR budgets at a profile,
written by `plan-harness budgets --write` at one seed, judged at other seeds.

    python benchmarks/budgets_seeds.py [--profile ci] [--seeds 1 2 3 4 5]

Runs `plan-harness run --plans-seed N` for each seed (each seed is its own build, cached
like any other) and counts, per seed, the items failing a budget check (`shared_buffers` or
`p95`) and the outcomes. Results go to results/budgets_seeds_<profile>.json."""

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
BUDGET_CHECKS = {"shared_buffers", "p95"}


def run_seed(profile: str, seed: int, report_dir: Path) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--plans-profile",
                           profile, "--plans-seed", str(seed),
                           f"--plans-report-dir={report_dir}"],
                          cwd=ROOT, capture_output=True, text=True)
    document = json.loads((report_dir / "results.json").read_text())
    over = [f"{i['id']}: {f['message']}" for i in document["items"] for f in i["findings"]
            if f["severity"] == "fail" and f["check"] in BUDGET_CHECKS]
    return {"seed": seed, "exit": done.returncode,
            "seconds": round(time.monotonic() - started, 1), "counts": document["counts"],
            "budget_failures": over}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-harness-budgets-") as name:
        runs = []
        for seed in args.seeds:
            runs.append(run_seed(args.profile, seed, Path(name) / f"seed-{seed}"))
            print(f"seed {seed}: exit {runs[-1]['exit']}, {runs[-1]['counts']}, "
                  f"{len(runs[-1]['budget_failures'])} budget failures", flush=True)
    document = {
        "command": f"python benchmarks/budgets_seeds.py --profile {args.profile} --seeds "
                   + " ".join(map(str, args.seeds)),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "written_at_seed": 1,
        "summary": {"budget_failures": sum(len(r["budget_failures"]) for r in runs),
                    "exit_codes": [r["exit"] for r in runs]},
        "runs": runs,
    }
    out = ROOT / "benchmarks" / "results" / f"budgets_seeds_{args.profile}.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["summary"]))
    print(f"written {out}")


if __name__ == "__main__":
    main()
