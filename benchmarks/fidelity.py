"""Fidelity of projected plans: capture the planner statistics of a real seeded profile,
load them into the small `ci` database (--plans-stats), and compare the plan chosen for
every scenario item and plan mode (custom, generic) with the real database's.

    python benchmarks/fidelity.py --profile dev [--onto ci]

Compared per (item, mode): the scan node and index of every node reading a relation
(harness/statistics/fidelity.py). Two controls run beside it: the small database's own plans (what
planning without the statistics gives) and the statistics loaded without padding the
relation files (what the statistics alone give). Results go to
results/fidelity_<profile>.json. The check alone, with the statistics stamped for a
projected run to gate on, is a command: `plan-harness stats stamp` (harness/workflows/stamp.py);
this benchmark adds the two controls, which measure the harness's projection itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.statistics.fidelity import compare_documents  # noqa: E402

# The control that shows why relation files are padded: the same statistics loaded with
# the padding switched off, so the planner multiplies their density by the small files.
UNPADDED = ("import sys, harness.statistics.load as s; s._Layout.pad = lambda *a: 0; "
            "from harness.cli import main; sys.exit(main(sys.argv[1:]))")


def plan_harness(*args: str, unpadded: bool = False) -> float:
    """Runs the CLI; returns its seconds. Exit 1 (failed items) is a result, not an error."""
    started = time.monotonic()
    runner = ["-c", UNPADDED] if unpadded else ["-m", "harness.cli"]
    result = subprocess.run([sys.executable, *runner, *args], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode not in (0, 1):
        sys.exit(f"plan-harness {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return round(time.monotonic() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev", help="the real, seeded scale")
    parser.add_argument("--onto", default="ci", help="the small profile projected onto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stats, real, projected = Path(tmp) / "stats.json", Path(tmp) / "real", Path(tmp) / "proj"
        seconds = {
            "capture": plan_harness("stats", "capture", "--plans-profile", args.profile,
                                    "--out", str(stats)),
            # one timed run: the plans are what is compared, not the timings
            "real_run": plan_harness("run", "--plans-profile", args.profile, "--plans-runs",
                                     "1", "--plans-warmup", "0", "--plans-report-dir",
                                     str(real)),
            "projected_run": plan_harness("run", "--plans-profile", args.onto, "--plans-stats",
                                          str(stats), "--plans-report-dir", str(projected)),
            # controls: the small database's own plans, and the statistics without padding
            "small_run": plan_harness("run", "--plans-profile", args.onto, "--plans-runs", "1",
                                      "--plans-warmup", "0", "--plans-report-dir",
                                      str(Path(tmp) / "small")),
            "unpadded_run": plan_harness("run", "--plans-profile", args.onto, "--plans-stats",
                                         str(stats), "--plans-report-dir",
                                         str(Path(tmp) / "unpadded"), unpadded=True),
        }
        truth = json.loads((real / "results.json").read_text())
        fidelity = compare_documents(truth, json.loads((projected / "results.json").read_text()))
        controls = {name: compare_documents(truth, json.loads(
            (Path(tmp) / name / "results.json").read_text())) for name in ("small", "unpadded")}
        statistics = json.loads(stats.read_text())
    measured_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = {
        "command": f"python benchmarks/fidelity.py --profile {args.profile} --onto {args.onto}",
        "measured_at": measured_at,
        "statistics_of": statistics["source"],
        "compared": fidelity.compared,
        "agreed": fidelity.agreed,
        "agreement": round(fidelity.agreement, 4),
        "missing": fidelity.missing,
        "costs_of_agreeing_plans": fidelity.cost_summary(),
        "seconds": seconds,
        "controls": {
            name: {"agreed": controls[key].agreed, "compared": controls[key].compared,
                   "costs_of_agreeing_plans": controls[key].cost_summary(),
                   "disagreements": [dataclasses.asdict(d)
                                     for d in controls[key].disagreements]}
            for name, key in (("small_database_own_plans", "small"),
                              ("statistics_without_padding", "unpadded"))
        },
        "disagreements": [dataclasses.asdict(d) for d in fidelity.disagreements],
    }
    target = ROOT / "benchmarks" / "results" / f"fidelity_{args.profile}.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("compared", "agreed", "agreement", "missing",
                                          "costs_of_agreeing_plans")}),
          f"written {target}")


if __name__ == "__main__":
    main()
