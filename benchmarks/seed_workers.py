"""Benchmark: seeding a profile on 1 and on N sessions, with the correlation of
calls.created_at (how close to time order the table stays).

    python benchmarks/seed_workers.py --profile dev --workers 1,2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import psycopg

from harness.build.builder import BuildStages, build_database
from harness.project.manifest import read_project
from harness.server.embedded import EmbeddedServer
from harness.server.provisioning import harness_database

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    project = read_project(ROOT / "fixtures", ROOT / "scenarios")
    profile = project.profile(args.profile)
    for workers in (int(w) for w in args.workers.split(",")):
        lines: list[str] = []
        with EmbeddedServer() as server, harness_database(server) as db:
            stages = BuildStages()
            build_database(db.conninfo, project, profile, 1, project.load_revision,
                           lines.append, workers=workers, stages=stages)
            seconds = stages.load_s
            with psycopg.connect(db.conninfo, autocommit=True) as conn:
                conn.execute("ANALYZE calls")
                row = conn.execute("SELECT correlation FROM pg_stats WHERE tablename = 'calls' "
                                   "AND attname = 'created_at'").fetchone()
        calls = next(line for line in lines
                     if line.startswith(("seed calls", "load calls")) and "100%" in line)
        print(f"workers={workers}: seed {seconds:.1f} s, created_at correlation "
              f"{row[0] if row else float('nan'):.4f} | {calls}", flush=True)


if __name__ == "__main__":
    main()
