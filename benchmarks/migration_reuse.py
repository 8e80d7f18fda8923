"""What a migration's pull request costs with the default branch's cache warm, before and
after the seeded data was kept apart from the migrations after it.

    python benchmarks/migration_reuse.py [--profile ci] [--runs 2] [--before COMMIT]

Per run, with an empty cache: the default branch's tree builds its database (the warm-up job),
then the pull request's tree (the same plus one new migration, an index on calls) runs one
scenario case. Timed: the pull request's run, wall time and "ready in". `before` is the
committed tree of COMMIT (default: the commit before this change), `after` is HEAD; both are
run from `git archive` copies with this virtualenv's Python. Results go to
results/migration_reuse_<profile>.json.
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

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "b238186"  # the last commit whose cache key covered every migration file
NEW_MIGRATION = '''"""a pull request's migration: one more index on calls

Revision ID: 20250301000000
"""

from alembic import op

revision = "20250301000000"
down_revision = "20250130000000"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_calls_status_probe ON calls (status)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_calls_status_probe")
'''
CASE = ["-k", "booking_rate_appointments[smallest-tenant-30-days]", "--plans-runs", "3",
        "--plans-warmup", "1"]


def tree(commit: str, target: Path, with_migration: bool) -> None:
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "x", "-C", str(target)], input=archive, check=True)
    if with_migration:
        versions = target / "fixtures" / "migrations" / "versions"
        (versions / "20250301000000_probe_index.py").write_text(NEW_MIGRATION)


def harness(cwd: Path, cache: Path, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd,
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "PLAN_HARNESS_CACHE_DIR": str(cache)})
    if result.returncode not in (0, 1):
        sys.exit(f"{cwd}: {' '.join(args)} failed: {result.stderr.strip()[-2000:]}")
    return time.monotonic() - started, result.stderr


def cache_size(cache: Path) -> int:
    return sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())


def one_run(commit: str, profile: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="migration-reuse-") as tmp:
        main, pull, cache = Path(tmp) / "main", Path(tmp) / "pull", Path(tmp) / "cache"
        tree(commit, main, with_migration=False)
        tree(commit, pull, with_migration=True)
        warm, _ = harness(main, cache, "run", "--plans-profile", profile, *CASE)
        seconds, log = harness(pull, cache, "run", "--plans-profile", profile, *CASE)
        ready = re.findall(r"ready in ([\d.]+) s", log)
        return {"warm_seconds": round(warm, 1), "pull_request_seconds": round(seconds, 1),
                "pull_request_ready_seconds": float(ready[-1]) if ready else None,
                "pull_request_seeded": "seed calls" in log or "load calls" in log,
                "cache_entries": len([p for p in cache.iterdir() if not p.name.startswith(".")]),
                "cache_bytes": cache_size(cache)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--before", default=BEFORE)
    args = parser.parse_args()
    after = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    document: dict[str, object] = {
        "command": f"python benchmarks/migration_reuse.py --profile {args.profile} "
                   f"--runs {args.runs} --before {args.before}",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    for label, commit in (("before", args.before), ("after", after)):
        runs = [one_run(commit, args.profile) for _ in range(args.runs)]
        for number, result in enumerate(runs, start=1):
            print(f"{label} run {number}: {result}", file=sys.stderr)
        document[label] = {
            "commit": commit, "runs": runs,
            "median_pull_request_seconds": statistics.median(
                float(str(r["pull_request_seconds"])) for r in runs),
            "median_pull_request_ready_seconds": statistics.median(
                float(str(r["pull_request_ready_seconds"])) for r in runs)}
    out = ROOT / "benchmarks" / "results" / f"migration_reuse_{args.profile}.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: v for k, v in document.items() if k not in ("before", "after")}))


if __name__ == "__main__":
    main()
