"""A projected profile against the real profile it is scaled from: how long planning at the
projected scale takes, its verdicts, and which plans change between the two scales.

    python benchmarks/projected_profile.py [--profile design-100m]

The real profile (the projected one's `from`) runs once with one timed execution per plan
mode; the projected one plans on its `onto` database. Plans are compared item by item as
benchmarks/fidelity.py does. Results go to results/projected_<profile>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from fidelity import ROOT, plan_harness  # the sibling benchmark's CLI runner

from harness.project.manifest import read_project
from harness.statistics.fidelity import compare_documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="design-100m")
    args = parser.parse_args()
    projected = read_project(ROOT / "fixtures", ROOT / "scenarios").profile(args.profile)
    if projected.projected is None:
        parser.error(f"{args.profile} is not a projected profile")
    source = projected.projected.source
    with tempfile.TemporaryDirectory() as tmp:
        real, big = Path(tmp) / "real", Path(tmp) / "projected"
        seconds = {
            "real_run": plan_harness("run", "--plans-profile", source, "--plans-runs", "1",
                                     "--plans-warmup", "0", "--plans-report-dir", str(real)),
            "projected_run": plan_harness("run", "--plans-profile", args.profile,
                                          "--plans-report-dir", str(big)),
        }
        at_source = json.loads((real / "results.json").read_text())
        at_scale = json.loads((big / "results.json").read_text())
    changes = compare_documents(at_source, at_scale)
    out = {
        "command": f"python benchmarks/projected_profile.py --profile {args.profile}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "projected_from": f"{source} x{projected.projected.scale:g} on "
                          f"{projected.projected.onto}",
        "seconds": seconds,
        "counts": at_scale["counts"],
        "plans_compared": changes.compared,
        "plans_unchanged": changes.agreed,
        "plans_changed": [dataclasses.asdict(d) for d in changes.disagreements],
        "row_estimates": {t["table"]: t["rows"] for t in at_scale["run"]["table_sizes"]},
    }
    target = ROOT / "benchmarks" / "results" / f"projected_{args.profile}.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("seconds", "counts", "plans_compared",
                                          "plans_unchanged")}), f"written {target}")


if __name__ == "__main__":
    main()
