"""Benchmark: what the dashboard indexes cost writes to `calls` (the seed document claims
"10-20% slower writes" for its eight indexes on calls).

    python benchmarks/write_cost.py [--profile ci] [--rows 20000] [--reps 3]
                                    [--results reports/results.json [--reuse]]

Two databases of the same profile and seed: one at the revision before the index migration
(primary key only), one at head. Each round inserts --rows new calls into both, one
single-row INSERT per call as the application does (pipelined by psycopg's executemany),
copying the columns of existing calls so both databases receive identical rows. Rounds
alternate between the databases; the figures are medians of rows per second. Results go
to results/write_cost_<profile>.json. With --results, the measurement is also recorded in a
run's results.json (of the same profile), whose report then shows it; --reuse takes the
committed measurement instead of measuring again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg
from recording import add_results_options, reused  # the sibling module

from harness import datagen, schema
from harness.build import load_data as seed_database
from harness.project import load_project
from harness.provisioning import EmbeddedServer, harness_database
from harness.report import record_measurement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT / "fixtures", ROOT / "scenarios")
BEFORE = "20250115000000"

# Source rows to copy, numbered so each INSERT fetches one by primary key.
SOURCES = """
CREATE TABLE write_source AS
SELECT row_number() OVER (ORDER BY id) AS n, c.* FROM calls c
WHERE id IN (SELECT id FROM calls ORDER BY md5(id) LIMIT %(rows)s);
ALTER TABLE write_source ADD PRIMARY KEY (n);
"""
INSERT = """
INSERT INTO calls (id, company_id, contact_card_id, lead_id, assigned_rep_id, direction, status,
                   booked, from_number, to_number, duration_seconds, recording_url,
                   transcript_summary, created_at, updated_at)
SELECT md5(%s || ':' || n), company_id, contact_card_id, lead_id, assigned_rep_id, direction,
       status, booked, from_number, to_number, duration_seconds, recording_url,
       transcript_summary, created_at + interval '400 days', updated_at + interval '400 days'
FROM write_source WHERE n = %s
"""


def build(server: Any, profile_name: str, revision: str, rows: int) -> Any:
    database = harness_database(server)
    db = database.__enter__()
    schema.upgrade(db.conninfo, PROJECT.migrations_dir, PROJECT.load_revision)
    seed_database(db.conninfo, PROJECT, PROJECT.profile(profile_name), 1, lambda m: None)
    schema.upgrade(db.conninfo, PROJECT.migrations_dir, revision)
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute(SOURCES.replace("%(rows)s", str(int(rows))))  # type: ignore[arg-type]
        datagen.vacuum_analyze(conn, lambda m: None)
        indexes = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'calls'"
                               ).fetchone()
    return database, db, int(indexes[0]) if indexes else 0


def insert_round(conninfo: str, tag: str, rows: int) -> float:
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET session_replication_role = replica")  # same for both databases
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.executemany(INSERT, [(tag, n) for n in range(1, rows + 1)])
        conn.commit()
        return rows / (time.perf_counter() - started)


def measure(profile: str, rows: int, reps: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"before": [], "head": []}
    with EmbeddedServer() as server:
        before = build(server, profile, BEFORE, rows)
        head = build(server, profile, "head", rows)
        try:
            for rep in range(reps):
                for name, (_, db, _) in (("before", before), ("head", head)):
                    rate = insert_round(db.conninfo, f"w{rep}", rows)
                    rates[name].append(round(rate))
                    print(name, round(rate), "rows/s", flush=True)
        finally:
            head[0].__exit__(None, None, None)
            before[0].__exit__(None, None, None)
    median = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "command": f"python benchmarks/write_cost.py --profile {profile} "
                   f"--rows {rows} --reps {reps}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "profile": profile,
        "indexes_on_calls": {"before": before[2], "head": head[2]},
        "rows_per_second": rates,
        "median_rows_per_second": median,
        "slowdown_percent": round(100 * (1 - median["head"] / median["before"]), 1),
        "seed_claim": "10-20% slower writes with the 8 indexes on calls",
    }


def attach(results: Path, measured: dict[str, Any], profile: str) -> None:
    """Records the measurement as the run's write_cost (see results.schema.json)."""
    median = measured["median_rows_per_second"]
    record_measurement(results, "write_cost", {
        "table": "calls",
        "indexes_without": measured["indexes_on_calls"]["before"],
        "indexes_with": measured["indexes_on_calls"]["head"],
        "rows_per_second_without": median["before"],
        "rows_per_second_with": median["head"],
        "slowdown_percent": measured["slowdown_percent"],
        "claim": measured["seed_claim"],
        "command": measured["command"],
        "measured_at": measured["measured_at"],
    }, profile)
    print(f"recorded in {results}; `plan-harness report {results}` shows it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    add_results_options(parser)
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "results" / f"write_cost_{args.profile}.json"
    if reused(parser, args, out, attach):
        return
    document = measure(args.profile, args.rows, args.reps)
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: document[k] for k in ("indexes_on_calls", "median_rows_per_second",
                                                "slowdown_percent")}), f"written {out}")
    if args.results is not None:
        attach(args.results, document, args.profile)


if __name__ == "__main__":
    main()
