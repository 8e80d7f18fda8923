"""No flaky verdicts: N consecutive runs of every scenario at a profile on an unchanged
schema, and whether each item got the same verdict and the same findings every time.

    python benchmarks/verdict_stability.py [--profile ci] [--runs 5] [--cold]

Warm (default): the runs share one seeded database from the cache, as reruns of a CI job
do. --cold: every run rebuilds the database (--plans-cache refresh), so ANALYZE draws a new
random sample each time, as a fresh CI machine does. Results go to
results/verdict_stability_<profile>_<warm|cold>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def signature(document: dict) -> dict[str, tuple[str, tuple[str, ...]]]:  # type: ignore[type-arg]
    """Per item: the outcome and the sorted (severity, check, mode) of its findings."""
    return {
        item["id"]: (item["outcome"],
                     tuple(sorted(f"{f['severity']}:{f['check']}:{f['mode']}"
                                  for f in item["findings"])))
        for item in document["items"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.runs):
            report = Path(tmp) / f"run{n}"
            command = [sys.executable, "-m", "harness.cli", "run", "--plans-profile",
                       args.profile, "--plans-report-dir", str(report)]
            if args.cold:
                command += ["--plans-cache", "refresh"]
            started = time.monotonic()
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            document = json.loads((report / "results.json").read_text())
            runs.append({"exit_code": result.returncode,
                         "seconds": round(time.monotonic() - started, 1),
                         "counts": document["counts"], "signature": signature(document)})
            print(f"run {n + 1}: exit {result.returncode}, {document['counts']}", flush=True)
    first = runs[0]["signature"]
    differing = sorted(item for run in runs[1:] for item in first
                       if run["signature"].get(item) != first[item])
    mode = "cold" if args.cold else "warm"
    out = {
        "command": f"python benchmarks/verdict_stability.py --profile {args.profile} "
                   f"--runs {args.runs}" + (" --cold" if args.cold else ""),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "items": len(first),
        "identical_verdicts": all(r["signature"] == first for r in runs),
        "identical_outcomes": all({k: v[0] for k, v in r["signature"].items()}
                                  == {k: v[0] for k, v in first.items()} for r in runs),
        "items_that_differed": sorted(set(differing)),
        "runs": [{k: v for k, v in r.items() if k != "signature"} for r in runs],
        "differences": {item: [r["signature"].get(item) for r in runs]
                        for item in sorted(set(differing))},
    }
    target = ROOT / "benchmarks" / "results" / f"verdict_stability_{args.profile}_{mode}.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("identical_verdicts", "identical_outcomes",
                                          "items_that_differed")}), f"written {target}")


if __name__ == "__main__":
    main()
