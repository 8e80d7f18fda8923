"""Benchmark: how long each stage of building a profile's database takes, and the harness's
peak memory, with the embedded server and no cache.

    python benchmarks/seed_profile.py --profile capacity [--runs 3]

Stages: server start, schema at the load revision, seeding (per table: rows/s), the index
migration to head, VACUUM (ANALYZE, FREEZE). Results go to results/seed_<profile>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg

from harness.build.builder import BuildStages, build_database
from harness.project.manifest import Project, read_project
from harness.server.embedded import EmbeddedServer
from harness.server.provisioning import harness_database

ROOT = Path(__file__).resolve().parent.parent


def build(project: Project, profile_name: str, seed: int, settings: dict[str, str]
          ) -> dict[str, Any]:
    """One build from nothing: its stages, row counts, table sizes and progress lines."""
    profile = project.profile(profile_name)
    lines: list[str] = []

    def progress(message: str) -> None:
        lines.append(message)
        print(message, flush=True)

    started = time.monotonic()
    with EmbeddedServer(settings=settings) as server, harness_database(server) as db:
        server_start_s = time.monotonic() - started
        built = BuildStages()
        counts = build_database(db.conninfo, project, profile, seed, "head", progress,
                                stages=built)
        with psycopg.connect(db.conninfo, autocommit=True) as conn:
            sizes = dict(conn.execute(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace").fetchall())
    # the stage names of the results committed before the build was one engine call
    stages = {"server_start_s": server_start_s, "schema_s": built.schema_s,
              "seed_s": built.load_s, "index_migration_s": built.migrate_s,
              "vacuum_analyze_s": built.vacuum_analyze_s}
    stages["total_s"] = time.monotonic() - started
    print(json.dumps({k: round(v, 1) for k, v in stages.items()}), flush=True)
    return {
        "stages": {k: round(v, 1) for k, v in stages.items()},
        "row_counts": counts,
        "total_rows": sum(counts.values()),
        "table_bytes": sizes,
        "progress_lines": [line for line in lines if "ETA" not in line],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="capacity")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1, help="builds, one after the other")
    parser.add_argument("--server-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="extra embedded-server setting, e.g. shared_buffers=1GB")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.server_setting)
    project = read_project(ROOT / "fixtures", ROOT / "scenarios")
    builds = [build(project, args.profile, args.seed, settings) for _ in range(args.runs)]
    totals = [b["stages"]["total_s"] for b in builds]
    document = {
        "command": f"python benchmarks/seed_profile.py --profile {args.profile}"
                   + (f" --runs {args.runs}" if args.runs > 1 else "")
                   + "".join(f" --server-setting {k}={v}" for k, v in settings.items()),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        **builds[-1],
        "harness_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.runs > 1:
        # The single-build keys above are the last build's; every build is kept here.
        document["builds"] = builds
        document["total_s"] = {"each": totals, "median": statistics.median(totals),
                               "max": max(totals)}
    out = args.out or ROOT / "benchmarks" / "results" / f"seed_{args.profile}.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({"total_s": totals}), f"written {out}")


if __name__ == "__main__":
    main()
