"""Benchmark: the full test command's wall time on a fresh clone, per layer.

Clones each revision into a temporary folder, installs it into a virtualenv of its own (not
timed: installs are set apart, as in the issue), then runs the README's test command
(`pytest`) RUNS times per revision, the revisions alternating, and records, per run, the
wall time and the seconds each layer's tests took (tests/unit, tests/db, tests/plugin,
tests/csr and the plan items in scenarios/), read from pytest's JUnit XML (setup, call and
teardown of every test).

    python benchmarks/suite_time.py --rev before=cc42825 --rev after=HEAD --runs 2

Before each run a fixed piece of CPU work is timed (`cpu_canary_s`): on this shared host the
same suite can take a third longer when the host is busy, every layer alike, and the canary
shows it. The result goes to benchmarks/results/<out>.json; the medians are what
the README and benchmarks/README.md quote. A session-scoped fixture's start-up is charged to
the first test that asks for it, so a layer's figure includes the servers and builds it
started.
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
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("tests/unit", "tests/db", "tests/plugin", "tests/csr", "scenarios")


def layer_of(classname: str, file: str | None) -> str:
    """The layer a JUnit test case belongs to, from its file (or dotted class name)."""
    path = file or classname.replace(".", "/")
    return next((layer for layer in LAYERS if path.startswith(layer)), "other")


def layer_seconds(junit: Path) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """Seconds and tests per layer, and the seconds of the slowest test files."""
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    files: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit).getroot().iter("testcase"):
        classname = case.get("classname", "")
        layer = layer_of(classname, case.get("file"))
        seconds[layer] += float(case.get("time", "0"))
        counts[layer] += 1
        files[classname] += float(case.get("time", "0"))
    slowest = dict(sorted(files.items(), key=lambda kv: -kv[1])[:12])
    return ({k: round(v, 1) for k, v in sorted(seconds.items())}, dict(sorted(counts.items())),
            {k: round(v, 1) for k, v in slowest.items()})


def fresh_clone(rev: str, into: Path) -> Path:
    clone = into / "p"
    into.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], check=True)
    for script in ("tools/install-browser.sh", "tools/install-ci-tools.sh"):
        if (clone / script).exists():
            subprocess.run(["sh", script], cwd=clone, check=True)
    subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=clone, check=True)
    subprocess.run([".venv/bin/pip", "install", "-q", "-e", ".[dev]"], cwd=clone, check=True)
    return clone


def cpu_canary_s() -> float:
    """Seconds of fixed CPU work in a new process, the median of three: how fast the machine
    was beside a run (a shared host's other tenants slow every layer alike)."""
    work = "sum(i * i for i in range(3_000_000))"
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", work], check=True)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def one_run(clone: Path, index: int) -> dict[str, object]:
    junit = clone / f"junit-{index}.xml"
    canary = cpu_canary_s()
    started = time.perf_counter()
    result = subprocess.run(
        [".venv/bin/pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
         "-o", "junit_family=xunit1"],
        cwd=clone, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    lines = result.stdout.strip().splitlines()
    seconds, counts, slowest = layer_seconds(junit)
    return {"exit_code": result.returncode, "wall_s": round(wall, 1),
            "summary": lines[-1] if lines else "", "layer_s": seconds, "layer_tests": counts,
            "slowest_files_s": slowest, "cpu_canary_s": canary}


def summary(rev: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    layers = sorted({k for r in runs for k in r["layer_s"]})
    return {
        "rev": rev,
        "runs": runs,
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "median_layer_s": {layer: round(statistics.median(
            r["layer_s"].get(layer, 0.0) for r in runs), 1) for layer in layers},
        "median_cpu_canary_s": statistics.median(r["cpu_canary_s"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", action="append", metavar="LABEL=REV", required=True,
                        help="a revision to time, named (repeatable: the revisions' runs "
                             "alternate, so a busy spell of the host falls on each alike)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each revision")
    parser.add_argument("--out", default="suite_time", help="names the result file")
    args = parser.parse_args()
    revs = {}
    for given in args.rev:
        label, _, rev = given.partition("=")
        revs[label] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev],
                                     capture_output=True, text=True,
                                     check=True).stdout.strip()
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in revs}
    with tempfile.TemporaryDirectory(prefix="plan-harness-suite-") as folder:
        clones = {label: fresh_clone(rev, Path(folder) / label) for label, rev in revs.items()}
        for i in range(args.runs):
            for label, clone in clones.items():
                runs[label].append(one_run(clone, i))
                print(label, json.dumps(runs[label][-1]), flush=True)
    document = {
        "command": "python benchmarks/suite_time.py "
                   + " ".join(f"--rev {r}" for r in args.rev)
                   + f" --runs {args.runs} --out {args.out}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{label: summary(revs[label], label_runs) for label, label_runs in runs.items()},
    }
    out = ROOT / "benchmarks" / "results" / f"{args.out}.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
