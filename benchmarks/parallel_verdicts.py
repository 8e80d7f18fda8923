"""pytest -m plans -n 2 against a serial run: the same verdicts, one seeding, and the time.

    python benchmarks/parallel_verdicts.py [--profile ci]

Both runs start from an empty seeded-database cache of their own, so each seeds: the serial
run once, the two workers once between them (one builds and stores under a lock, the other
waits and reuses). Results go to results/parallel_verdicts_<profile>.json.
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


def run(extra: list[str], profile: str, tmp: Path, name: str) -> dict:  # type: ignore[type-arg]
    report = tmp / name
    command = [sys.executable, "-m", "pytest", "scenarios", "-m", "plans", "-q",
               "-p", "no:cacheprovider", "--plans-profile", profile,
               "--plans-report-dir", str(report), "--plans-cache-dir", str(tmp / f"cache-{name}"),
               *extra]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    document = json.loads((report / "results.json").read_text())
    return {"exit_code": result.returncode, "seconds": round(time.monotonic() - started, 1),
            "verdicts": {i["id"]: i["outcome"] for i in document["items"]},
            "workers": document["run"].get("workers")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        serial = run(["-p", "no:xdist"], args.profile, Path(tmp), "serial")
        parallel = run(["-n", "2"], args.profile, Path(tmp), "parallel")
    differing = sorted(k for k in serial["verdicts"]
                       if parallel["verdicts"].get(k) != serial["verdicts"][k])
    out = {
        "command": f"python benchmarks/parallel_verdicts.py --profile {args.profile}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "items": len(serial["verdicts"]),
        "same_verdicts": not differing and serial["verdicts"].keys() == parallel[
            "verdicts"].keys(),
        "differing": differing,
        "serial": {k: serial[k] for k in ("exit_code", "seconds")},
        "parallel": {k: parallel[k] for k in ("exit_code", "seconds", "workers")},
        "seedings": sum(1 for w in parallel["workers"] or [] if w["cache"].startswith("stored")),
    }
    target = ROOT / "benchmarks" / "results" / f"parallel_verdicts_{args.profile}.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("same_verdicts", "differing", "serial", "seedings")}),
          json.dumps(out["parallel"]["seconds"]), f"written {target}")


if __name__ == "__main__":
    main()
