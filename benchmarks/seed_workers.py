"""Benchmark: seeding a profile on 1 and on N sessions, with the correlation of
calls.created_at (how close to time order the table stays).

    python benchmarks/seed_workers.py --profile dev --workers 1,2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psycopg

from harness import schema
from harness.project import load_project
from harness.provisioning import EmbeddedServer, harness_database
from harness.session import seed_database

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    project = load_project(ROOT / "fixtures", ROOT / "scenarios")
    profile = project.profile(args.profile)
    for workers in (int(w) for w in args.workers.split(",")):
        lines: list[str] = []
        with EmbeddedServer() as server, harness_database(server) as db:
            schema.upgrade(db.conninfo, project.migrations_dir, project.load_revision)
            started = time.monotonic()
            seed_database(db.conninfo, project, profile, 1, lines.append, workers=workers)
            seconds = time.monotonic() - started
            with psycopg.connect(db.conninfo, autocommit=True) as conn:
                conn.execute("ANALYZE calls")
                row = conn.execute("SELECT correlation FROM pg_stats WHERE tablename = 'calls' "
                                   "AND attname = 'created_at'").fetchone()
        calls = next(line for line in lines if line.startswith("seed calls") and "100%" in line)
        print(f"workers={workers}: seed {seconds:.1f} s, created_at correlation "
              f"{row[0] if row else float('nan'):.4f} | {calls}", flush=True)


if __name__ == "__main__":
    main()
