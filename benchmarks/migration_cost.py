"""Benchmark: what the index migration costs at a scale, under a steady writer.

    python benchmarks/migration_cost.py --profile dev [--blocking]

Runs `plan-harness run --plans-migration-check on` on a copy of the project (one scenario
item, so the time goes to the migration) and records, per statement of the migration, its
duration, the longest time an insert into calls waited for a lock during it, and the longest
insert. With --blocking the copy
gets one more migration, a plain (non-concurrent) CREATE INDEX on calls, to show what the
seed's CONCURRENTLY saves. The database at the load revision comes from the seeded-database
cache when there is one. Results go to results/migration_cost_<profile>[_blocking].json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCKING = '''"""A plain CREATE INDEX on calls: inserts wait for the whole build.

Revision ID: 20250201000000
Revises: 20250130000000
"""

from alembic import op

revision = "20250201000000"
down_revision = "20250130000000"


def upgrade() -> None:
    op.execute("CREATE INDEX ix_calls_status_created_at ON calls (status, created_at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_calls_status_created_at")
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--blocking", action="store_true")
    parser.add_argument("--budget-ms", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "fixtures", project / "fixtures", ignore=ignore)
        shutil.copytree(ROOT / "scenarios", project / "scenarios", ignore=ignore)
        if args.blocking:
            versions = project / "fixtures" / "migrations" / "versions"
            (versions / "20250201000000_blocking_index.py").write_text(BLOCKING)
        command = [sys.executable, "-m", "harness.cli", "run", "--project-dir", str(project),
                   "--plans-profile", args.profile, "--plans-migration-check", "on",
                   "--plans-max-write-wait-ms", str(args.budget_ms), "--plans-runs", "1",
                   "--plans-warmup", "0", "-k", "top_objections[largest-tenant-7-days]"]
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, text=True, stdout=subprocess.PIPE)
        seconds = time.monotonic() - started
        document = json.loads((project / "reports" / "results.json").read_text())
    migration = document["run"]["migration"]
    builds = [
        {"index": s["index"], "table": s["table"], "concurrently": s["concurrently"],
         "seconds": s["seconds"], "max_write_wait_ms": s["max_write_wait_ms"],
         "max_insert_ms": s["max_insert_ms"],
         "table_rows": document["run"]["row_counts"].get(s["table"])}
        for s in migration["statements"] if s["index"]
    ]
    out = {
        "command": f"python benchmarks/migration_cost.py --profile {args.profile}"
                   + (" --blocking" if args.blocking else "")
                   + (f" --budget-ms {args.budget_ms}" if args.budget_ms != 200 else ""),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "profile": args.profile,
        "exit_code": result.returncode,
        "run_seconds": round(seconds, 1),
        "writes": migration["writes"],
        "median_write_ms": migration["median_write_ms"],
        "budget_ms": migration["max_write_wait_budget_ms"],
        "steps": migration["steps"],
        "index_builds": builds,
        "failures": migration["failures"],
        "seed_claim": "10-60 seconds per index above 1M rows (CONCURRENTLY, no write blocking)",
    }
    name = f"migration_cost_{args.profile}{'_blocking' if args.blocking else ''}.json"
    target = ROOT / "benchmarks" / "results" / name
    target.write_text(json.dumps(out, indent=1) + "\n")
    for b in builds:
        print(f"{b['index']:48} {b['seconds']:8.3f} s  lock wait {b['max_write_wait_ms']:8.1f} ms"
              f"  longest insert {b['max_insert_ms']:8.1f} ms"
              f"  {'CONCURRENTLY' if b['concurrently'] else ''}")
    print(f"exit {result.returncode}; written {target}")


if __name__ == "__main__":
    main()
