"""Latency without false alarms: unchanged runs beside CPU-bound neighbours, and a real latency
regression that keeps the plan and the buffers.

    python benchmarks/latency_noise.py [--rounds 5] [--hogs 2] [--builder]

With `--hogs` busy-looping processes running beside it the whole time (bounded, stopped at
the end), and with `--builder` a loop of `plan-harness build --plans-profile dev
--plans-cache off` beside them too (disk and CPU, as a CI runner building another job's
database), it runs:

1. `pytest -m plans` at `ci` over the CSR scenarios, `--rounds` times, counting items that
   fail on latency (a `p95` or `latency_slower` finding);
2. `plan-harness compare` at `ci` from head to a no-op migration after it, `--rounds` times,
   counting latency regressions and improvements (the schema did not change);
3. `plan-harness compare` on the sample project with a scenario whose SQL function is made
   5x slower by the head migration (same plan, same buffers), which must regress.

Results go to results/latency_noise.json (latency_noise_builder.json with --builder)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLAN_HARNESS = [sys.executable, "-m", "harness.cli"]
NOOP = '''"""no-op migration (plan-harness latency benchmark)"""

revision = "latency_noop"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''
FUNCTION = '''"""event_weight with {loops} loop iterations"""

from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""CREATE OR REPLACE FUNCTION event_weight(kind text) RETURNS int
        LANGUAGE plpgsql IMMUTABLE AS $$
        DECLARE total int := 0;
        BEGIN
            FOR i IN 1..{loops} LOOP total := total + length(kind); END LOOP;
            RETURN total;
        END $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION event_weight(text)")
'''
SLOW_SCENARIO = '''endpoint = "GET /feed/weight"
table = "events"
sql = """
SELECT sum(event_weight(kind)) FROM events
WHERE account_id = %(account_id)s AND created_at >= %(since)s
"""

[expect]
index = "ix_events_account_id_created_at"

[[cases]]
name = "busiest account, 90 days"
values = { account_id = "@busiest_account", since = "@last_event - 90 days" }
'''
LATENCY_CHECKS = {"p95", "latency_slower"}
SLOWER, FASTER = "latency_slower", "latency_faster"


def builder(stop_after: float) -> None:
    """Builds the dev profile from scratch again and again (no cache), until stopped; a stop
    (SIGTERM) stops the build under way too, which then cleans up its server."""
    running: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, frame: object) -> None:
        for child in running:
            child.terminate()
            child.wait()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    deadline = time.monotonic() + stop_after
    with tempfile.TemporaryDirectory(prefix="plan-harness-builder-") as name:
        while time.monotonic() < deadline:
            running[:] = [subprocess.Popen(
                [*PLAN_HARNESS, "build", "--plans-profile", "dev", "--plans-cache", "off",
                 f"--plans-report-dir={name}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)]
            running[0].wait()


def hog(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(i * i for i in range(10_000))


def latency_failures(document: dict[str, Any]) -> list[str]:
    return [f"{i['id']}: {f['message']}" for i in document["items"] for f in i["findings"]
            if f["severity"] == "fail" and f["check"] in LATENCY_CHECKS]


def pytest_round(report_dir: Path) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "scenarios", "-m", "plans", "-q",
                           "-p", "no:cacheprovider", f"--plans-report-dir={report_dir}"],
                          cwd=ROOT, capture_output=True, text=True)
    document = json.loads((report_dir / "results.json").read_text())
    return {"exit": done.returncode, "seconds": round(time.monotonic() - started, 1),
            "counts": document["counts"], "latency_failures": latency_failures(document)}


def compare_round(project: Path, base: str, head: str, report_dir: Path,
                  *extra: str) -> dict[str, Any]:
    from harness.report.analysis import compare
    from harness.report.output import read_results

    started = time.monotonic()
    done = subprocess.run([*PLAN_HARNESS, "compare", "--base", base, "--head", head,
                           "--project-dir", str(project), f"--plans-report-dir={report_dir}",
                           *extra], cwd=ROOT, capture_output=True, text=True)
    after, before = (read_results(report_dir / "results.json"),
                     read_results(report_dir / "base" / "results.json"))
    comparison = compare(after, before)
    latency = _latency_findings(after, SLOWER, "fail")
    faster = _latency_findings(after, FASTER, "info")
    return {"exit": done.returncode, "seconds": round(time.monotonic() - started, 1),
            "noise": after["run"]["noise"],
            "regressions": [c.id for c in comparison.regressions],
            "latency_regressions": latency, "latency_improvements": faster,
            "latency_failures": latency_failures(after)}


def _latency_findings(document: dict[str, Any], check: str,
                      severity: str) -> list[tuple[str, str]]:
    return [(i["id"], f["message"]) for i in document["items"] for f in i["findings"]
            if f["check"] == check and f["severity"] == severity]


def csr_with_noop(tmp: Path) -> tuple[Path, str]:
    from harness.build.migrations import Revisions

    project = tmp / "csr"
    shutil.copytree(ROOT / "fixtures", project / "fixtures",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "scenarios", project / "scenarios")
    head = Revisions(project / "fixtures" / "migrations").head()
    (project / "fixtures" / "migrations" / "versions" / "latency_noop.py").write_text(
        NOOP.format(head=head))
    return project, head


def sample_with_slow_function(tmp: Path) -> Path:
    project = tmp / "sample"
    for part in ("fixtures", "scenarios"):
        shutil.copytree(ROOT / "examples" / "minimal" / part, project / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (project / "scenarios" / "feed_weight.toml").write_text(SLOW_SCENARIO)
    versions = project / "fixtures" / "migrations" / "versions"
    (versions / "0003_weight.py").write_text(FUNCTION.format(revision="0003", down="0002",
                                                              loops=40))
    (versions / "0004_slower_weight.py").write_text(FUNCTION.format(revision="0004",
                                                                     down="0003", loops=200))
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--builder", action="store_true",
                        help="a loop of dev builds without cache beside the hogs")
    args = parser.parse_args()
    hogs = [multiprocessing.Process(target=hog, args=(3600.0,), daemon=True)
            for _ in range(args.hogs)]
    if args.builder:
        hogs.append(multiprocessing.Process(target=builder, args=(3600.0,), daemon=True))
    for process in hogs:
        process.start()
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="plan-harness-latency-") as name:
            tmp = Path(name)
            results = run_all(tmp, args.rounds)
    finally:
        for process in hogs:
            process.terminate()
        for process in hogs:
            process.join(timeout=60)
    document = {
        "command": f"python benchmarks/latency_noise.py --rounds {args.rounds} "
                   f"--hogs {args.hogs}" + (" --builder" if args.builder else ""),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(), "hogs": args.hogs, "builder": args.builder,
        "seconds": round(time.monotonic() - started, 1), **results,
    }
    name = "latency_noise_builder.json" if args.builder else "latency_noise.json"
    out = ROOT / "benchmarks" / "results" / name
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document["summary"], indent=1))
    print(f"written {out}")


def run_all(tmp: Path, rounds: int) -> dict[str, Any]:
    pytest_runs = [pytest_round(tmp / f"pytest-{n}") for n in range(rounds)]
    print(f"pytest rounds: {[r['latency_failures'] for r in pytest_runs]}", flush=True)
    project, head = csr_with_noop(tmp)
    compares = [compare_round(project, head, "latency_noop", tmp / f"compare-{n}")
                for n in range(rounds)]
    print(f"compare rounds: {[r['latency_regressions'] for r in compares]}", flush=True)
    slow = compare_round(sample_with_slow_function(tmp), "0003", "0004", tmp / "slow",
                         "--plans-profile", "small")
    summary = {
        "pytest_latency_failures": sum(len(r["latency_failures"]) for r in pytest_runs),
        "compare_latency_regressions": sum(len(r["latency_regressions"]) for r in compares),
        "compare_latency_improvements": sum(len(r["latency_improvements"]) for r in compares),
        "compare_exit_codes": [r["exit"] for r in compares],
        "slower_function_caught": bool(slow["latency_regressions"]) and slow["exit"] == 1,
        "slower_function": slow["latency_regressions"],
    }
    return {"summary": summary, "pytest": pytest_runs, "compare": compares, "slow": slow}


if __name__ == "__main__":
    main()
