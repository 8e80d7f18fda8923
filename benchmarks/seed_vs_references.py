"""Benchmark: our seeding speed against `pgbench -i` and against the naive way (Faker plus
one INSERT per row through executemany), side by side on the same embedded server.

    python benchmarks/seed_vs_references.py [--profile dev] [--pgbench-scale 10] [--reps 2]

* ours: `seed_database` for the profile plus `VACUUM (ANALYZE, FREEZE)`, over all rows of
  all tables (primary keys are in place during the load);
* pgbench: `pgbench -i -s N` (default steps dtgvp: client-side COPY, vacuum, primary
  keys), N x 100,000 pgbench_accounts rows;
* naive: the `calls` rows a typical script builds with Faker, inserted with executemany in
  one transaction, measured on --naive-rows rows and extrapolated per million.

The runs alternate (ours, pgbench, ours, pgbench, ...) so machine noise hits both; the
figures are medians of seconds per million rows. Results go to results/seed_vs_references.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from faker import Faker

from harness import datagen, schema
from harness.project import load_project
from harness.provisioning import EmbeddedServer, ServerInfo, embedded_bin_dir, harness_database
from harness.session import seed_database

ROOT = Path(__file__).resolve().parent.parent
PROJECT = load_project(ROOT / "fixtures", ROOT / "scenarios")


def ours(server: ServerInfo, profile_name: str) -> tuple[float, int]:
    profile = PROJECT.profile(profile_name)
    with harness_database(server) as db:
        schema.upgrade(db.conninfo, PROJECT.migrations_dir, PROJECT.load_revision)
        started = time.perf_counter()
        counts = seed_database(db.conninfo, PROJECT, profile, 1, lambda m: None)
        with psycopg.connect(db.conninfo, autocommit=True) as conn:
            datagen.vacuum_analyze(conn, lambda m: None)
        return time.perf_counter() - started, sum(counts.values())


def pgbench(server: ServerInfo, scale: int) -> tuple[float, int]:
    with harness_database(server) as db:
        params = psycopg.conninfo.conninfo_to_dict(db.conninfo)
        command = [str(embedded_bin_dir() / "pgbench"), "-i", "-q", "-s", str(scale),
                   "-h", str(params["host"]), "-U", str(params["user"]), str(params["dbname"])]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        rows = scale * (100_000 + 10 + 1)
        return time.perf_counter() - started, rows


def naive(server: ServerInfo, rows: int) -> tuple[float, int]:
    """What people write first: Faker per row, executemany, one transaction."""
    with harness_database(server) as db:
        schema.upgrade(db.conninfo, PROJECT.migrations_dir, PROJECT.load_revision)
        seed_database(db.conninfo, PROJECT, PROJECT.profile("tiny"), 1, lambda m: None)
        with psycopg.connect(db.conninfo) as conn:
            ids = {t: [r[0] for r in conn.execute(f"SELECT id FROM {t}").fetchall()]
                   for t in ("companies", "contact_cards", "leads", "reps")}
            fake = Faker()
            fake.seed_instance(1)
            rng = random.Random(1)
            started = time.perf_counter()
            batch = [_naive_call(fake, rng, ids) for _ in range(rows)]
            with conn.cursor() as cursor:
                cursor.executemany(NAIVE_INSERT, batch)
            conn.commit()
            return time.perf_counter() - started, rows


NAIVE_INSERT = """
INSERT INTO calls (id, company_id, contact_card_id, lead_id, assigned_rep_id, direction, status,
                   booked, from_number, to_number, duration_seconds, recording_url,
                   transcript_summary, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def _naive_call(fake: Faker, rng: random.Random, ids: dict[str, list[str]]) -> tuple[Any, ...]:
    created = fake.date_time_between(start_date="-13M", end_date="now")
    status = rng.choice(["completed", "missed", "voicemail", "awaiting_quote", "cancelled"])
    duration = 0 if status == "missed" else rng.randint(20, 900)
    return (str(uuid.uuid4()), rng.choice(ids["companies"]), rng.choice(ids["contact_cards"]),
            rng.choice(ids["leads"]), rng.choice(ids["reps"]), rng.choice(["inbound", "outbound"]),
            status, status == "completed" and rng.random() < 0.55, fake.phone_number(),
            fake.phone_number(), duration, fake.url(), fake.sentence(nb_words=14), created,
            created)


def per_million(seconds: float, rows: int) -> float:
    return seconds / rows * 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--pgbench-scale", type=int, default=10)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "pgbench": [], "naive": []}
    with EmbeddedServer() as server:
        for _ in range(args.reps):
            for name, measure in (("ours", lambda: ours(server, args.profile)),
                                  ("pgbench", lambda: pgbench(server, args.pgbench_scale)),
                                  ("naive", lambda: naive(server, args.naive_rows))):
                seconds, rows = measure()
                run = {"seconds": round(seconds, 2), "rows": rows,
                       "s_per_million_rows": round(per_million(seconds, rows), 2)}
                runs[name].append(run)
                print(name, json.dumps(run), flush=True)
    median = {k: statistics.median(r["s_per_million_rows"] for r in v) for k, v in runs.items()}
    document = {
        "command": f"python benchmarks/seed_vs_references.py --profile {args.profile} "
                   f"--pgbench-scale {args.pgbench_scale} --naive-rows {args.naive_rows} "
                   f"--reps {args.reps}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "median_s_per_million_rows": median,
        "ours_over_pgbench": round(median["ours"] / median["pgbench"], 2),
        "speedup_over_naive": round(median["naive"] / median["ours"], 1),
    }
    out = ROOT / "benchmarks" / "results" / "seed_vs_references.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: document[k] for k in ("median_s_per_million_rows", "ours_over_pgbench",
                                                "speedup_over_naive")}), f"written {out}")


if __name__ == "__main__":
    main()
