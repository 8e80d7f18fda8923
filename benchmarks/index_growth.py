"""Benchmark: index growth after a month of inserts, against the same index built fresh
(the design document's bloat section: wide keys, pages split half-full).

    python benchmarks/index_growth.py [--profile ci] [--results reports/results.json [--reuse]]

Builds the profile's database at head (indexes built after the load, so they start
packed), then inserts the newest 30 days of calls again, 30 days later, in time order, so
the tenants interleave as a month of traffic does: each tenant's range of
`(company_id, created_at)` grows in the middle of the index, and the random string UUID
keys land all over the primary key. Sizes are taken fresh, after the month, and after
`REINDEX TABLE calls` (the same rows, packed). Results go to results/index_growth_<profile>.json.
With --results, the measurement is also recorded in a run's results.json (of the same
profile), whose report then shows it; --reuse takes the committed measurement instead.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import psycopg
from recording import add_results_options, reused  # the sibling module

from harness import datagen, schema
from harness.build import load_data as seed_database
from harness.capacity import index_sizes
from harness.project import Projection, load_project
from harness.provisioning import EmbeddedServer, harness_database
from harness.report import record_measurement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT / "fixtures", ROOT / "scenarios")
COLUMNS = ("company_id, contact_card_id, lead_id, assigned_rep_id, direction, status, booked, "
           "from_number, to_number, duration_seconds, recording_url, transcript_summary")
A_MONTH_LATER = f"""
INSERT INTO calls (id, {COLUMNS}, created_at, updated_at)
SELECT gen_random_uuid()::text, {COLUMNS}, created_at + interval '30 days',
       updated_at + interval '30 days'
FROM calls
WHERE created_at > (SELECT max(created_at) FROM calls) - interval '30 days'
ORDER BY created_at
"""


def calls_indexes(conn: psycopg.Connection[Any]) -> dict[str, dict[str, float]]:
    sizes = index_sizes(conn, Projection())
    return {s.index: {"bytes": s.size_bytes, "rows": s.table_rows,
                      "bytes_per_row": s.bytes_per_row or 0.0}
            for s in sizes if s.table == "calls"}


def attach(results: Path, measured: dict[str, Any], profile: str) -> None:
    """Records the measurement as the run's index_growth (see results.schema.json)."""
    record_measurement(results, "index_growth", {
        "table": "calls",
        "rows_before": measured["rows_before"],
        "rows_inserted": measured["rows_inserted"],
        "indexes": [{"index": name, **{k: row[k] for k in (
            "fresh_bytes", "after_month_bytes", "rebuilt_bytes", "growth_over_rebuilt")}}
            for name, row in measured["indexes"].items()],
        "command": measured["command"],
        "measured_at": measured["measured_at"],
    }, profile)
    print(f"recorded in {results}; `plan-harness report {results}` shows it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    add_results_options(parser)
    args = parser.parse_args()
    target = ROOT / "benchmarks" / "results" / f"index_growth_{args.profile}.json"
    if reused(parser, args, target, attach):
        return
    with EmbeddedServer() as server, harness_database(server) as db:
        schema.upgrade(db.conninfo, PROJECT.migrations_dir, PROJECT.load_revision)
        seed_database(db.conninfo, PROJECT, PROJECT.profile(args.profile), 1, lambda m: None)
        schema.upgrade(db.conninfo, PROJECT.migrations_dir, "head")
        with psycopg.connect(db.conninfo, autocommit=True) as conn:
            datagen.vacuum_analyze(conn, lambda m: None)
            fresh = calls_indexes(conn)
            started = time.monotonic()
            inserted = conn.execute(A_MONTH_LATER).rowcount
            insert_seconds = time.monotonic() - started
            conn.execute("VACUUM ANALYZE calls")
            grown = calls_indexes(conn)
            conn.execute("REINDEX TABLE calls")
            conn.execute("ANALYZE calls")
            rebuilt = calls_indexes(conn)
    indexes = {
        name: {
            "fresh_bytes": fresh[name]["bytes"],
            "after_month_bytes": grown[name]["bytes"],
            "rebuilt_bytes": rebuilt[name]["bytes"],
            "after_month_bytes_per_row": grown[name]["bytes_per_row"],
            "rebuilt_bytes_per_row": rebuilt[name]["bytes_per_row"],
            "growth_over_rebuilt": round(grown[name]["bytes"] / rebuilt[name]["bytes"], 3),
        }
        for name in sorted(fresh)
    }
    out = {
        "command": f"python benchmarks/index_growth.py --profile {args.profile}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows_before": int(next(iter(fresh.values()))["rows"]),
        "rows_inserted": inserted,
        "insert_seconds": round(insert_seconds, 1),
        "indexes": indexes,
    }
    target.write_text(json.dumps(out, indent=1) + "\n")
    for name, row in indexes.items():
        print(f"{name:40} fresh {row['fresh_bytes'] / 2**20:7.1f} MiB  after a month "
              f"{row['after_month_bytes'] / 2**20:7.1f} MiB  rebuilt "
              f"{row['rebuilt_bytes'] / 2**20:7.1f} MiB  x{row['growth_over_rebuilt']}")
    print(f"{inserted:,} rows inserted; written {target}")
    if args.results is not None:
        attach(args.results, out, args.profile)


if __name__ == "__main__":
    main()
