"""Benchmark: our seeding speed against `pgbench -i` and against the naive way (Faker plus
one INSERT per row through executemany), side by side on the same embedded server.

    python benchmarks/seed_vs_references.py [--profile dev] [--pgbench-scale 10] [--reps 2]

* ours: `seed_database` for the profile plus `VACUUM (ANALYZE, FREEZE)`, over all rows of
  all tables (keys and indexes set aside during the load, rebuilt and validated after it);
* pgbench: `pgbench -i -s N` (default steps dtgvp: client-side COPY, vacuum, primary
  keys), N x 100,000 pgbench_accounts rows;
* naive: the `calls` rows a typical script builds with Faker, inserted with executemany in
  one transaction, measured on --naive-rows rows and extrapolated per million;
* pre-generated: our same rows, dumped once beforehand, loaded by binary COPY (one session
  per core) with the same keys set aside and rebuilt and the same VACUUM: what loading
  these rows costs with no generation at all, the floor for any generator of them.

The runs alternate (ours, pgbench, naive, pre-generated, then again) so machine noise hits
all of them; the figures are medians of seconds per million rows, and, for the loads that
leave tables behind, of seconds per GiB of tables and indexes loaded. Results go to
results/seed_vs_references.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from faker import Faker

from harness.build import datagen
from harness.build import migrations as schema
from harness.build.builder import BuildStages, build_database
from harness.build.datagen import DeferredKeys, run_on_sessions
from harness.project.manifest import read_project
from harness.server.embedded import EmbeddedServer, embedded_bin_dir
from harness.server.provisioning import ServerInfo, harness_database

ROOT = Path(__file__).resolve().parent.parent
WORKERS = max(1, os.cpu_count() or 1)  # as many sessions as seed_database opens
PROJECT = read_project(ROOT / "fixtures", ROOT / "scenarios")


# seconds, rows, and where tables are left behind "bytes" (tables and their indexes) and
# possibly "stages" (seconds per stage)
Load = dict[str, Any]

LOADED_TABLES = ("FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
                 "AND relname <> 'alembic_version'")
TABLE_BYTES = f"SELECT sum(pg_total_relation_size(oid)) {LOADED_TABLES}"


def table_bytes(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(TABLE_BYTES).fetchone()
        return int(row[0]) if row else 0


def ours(server: ServerInfo, profile_name: str) -> Load:
    profile = PROJECT.profile(profile_name)
    with harness_database(server) as db:
        stages = BuildStages()
        counts = build_database(db.conninfo, PROJECT, profile, 1, PROJECT.load_revision,
                                lambda m: None, stages=stages)
        seconds = stages.load_s + stages.vacuum_analyze_s
        return {"seconds": seconds, "rows": sum(counts.values()),
                "bytes": table_bytes(db.conninfo)}


def pregenerated(server: ServerInfo, dump: Path, rows: int) -> Load:
    files = sorted(dump.glob("*.copy"), key=lambda f: -f.stat().st_size)
    with harness_database(server) as db:
        schema.upgrade(db.conninfo, PROJECT.migrations_dir, PROJECT.load_revision)
        sessions = [psycopg.connect(db.conninfo) for _ in range(WORKERS)]
        try:
            with psycopg.connect(db.conninfo) as conn:
                marks = [time.perf_counter()]
                deferred = DeferredKeys.drop(conn)
                run_on_sessions(sessions, [_copy_in(f) for f in files], lambda i, r: None)
                marks.append(time.perf_counter())
                deferred.rebuild(conn, lambda m: None, sessions)
                marks.append(time.perf_counter())
                conn.autocommit = True
                datagen.vacuum_analyze(conn, lambda m: None)
                marks.append(time.perf_counter())
            stages = {name: round(end - start, 2) for name, start, end in
                      zip(("copy_s", "keys_s", "vacuum_s"), marks, marks[1:], strict=False)}
            return {"seconds": marks[-1] - marks[0], "rows": rows,
                    "bytes": table_bytes(db.conninfo), "stages": stages}
        finally:
            for session in sessions:
                session.close()


def _copy_in(file: Path) -> Callable[[psycopg.Connection[Any]], None]:
    def load(conn: psycopg.Connection[Any]) -> None:
        with conn.cursor() as cursor, file.open("rb") as source, cursor.copy(
                f"COPY {file.stem} FROM STDIN (FORMAT binary)") as copy:
            while block := source.read(1 << 20):
                copy.write(block)
        conn.commit()
    return load


def dump_rows(server: ServerInfo, profile_name: str, dump: Path) -> int:
    """Seeds the profile once, untimed, writes each table's rows to a COPY file, and returns
    how many rows there are."""
    with harness_database(server) as db:
        counts = build_database(db.conninfo, PROJECT, PROJECT.profile(profile_name), 1,
                                PROJECT.load_revision, lambda m: None)
        with psycopg.connect(db.conninfo) as conn, conn.cursor() as cursor:
            tables = [r[0] for r in conn.execute(f"SELECT relname {LOADED_TABLES}")]
            for table in tables:
                with (dump / f"{table}.copy").open("wb") as out, cursor.copy(
                        f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
                    for block in copy:
                        out.write(block)
    return sum(counts.values())


def pgbench(server: ServerInfo, scale: int) -> Load:
    with harness_database(server) as db:
        params = psycopg.conninfo.conninfo_to_dict(db.conninfo)
        command = [str(embedded_bin_dir() / "pgbench"), "-i", "-q", "-s", str(scale),
                   "-h", str(params["host"]), "-U", str(params["user"]), str(params["dbname"])]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        rows = scale * (100_000 + 10 + 1)
        return {"seconds": seconds, "rows": rows, "bytes": table_bytes(db.conninfo)}


def naive(server: ServerInfo, rows: int) -> Load:
    """What people write first: Faker per row, executemany, one transaction."""
    with harness_database(server) as db:
        build_database(db.conninfo, PROJECT, PROJECT.profile("tiny"), 1,
                       PROJECT.load_revision, lambda m: None)
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
            return {"seconds": time.perf_counter() - started, "rows": rows}


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
    runs: dict[str, list[dict[str, Any]]] = {
        "ours": [], "pgbench": [], "naive": [], "pregenerated": []}
    with EmbeddedServer() as server, tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch)
        dumped_rows = dump_rows(server, args.profile, dump)
        for _ in range(args.reps):
            for name, measure in (
                    ("ours", lambda: ours(server, args.profile)),
                    ("pgbench", lambda: pgbench(server, args.pgbench_scale)),
                    ("naive", lambda: naive(server, args.naive_rows)),
                    ("pregenerated", lambda: pregenerated(server, dump, dumped_rows))):
                load = measure()
                seconds, rows = load["seconds"], load["rows"]
                run = {"seconds": round(seconds, 2), "rows": rows,
                       "s_per_million_rows": round(per_million(seconds, rows), 2)}
                if "bytes" in load:
                    run |= {"bytes": load["bytes"],
                            "s_per_gib": round(seconds / load["bytes"] * 2**30, 2)}
                run |= {"stages": load["stages"]} if "stages" in load else {}
                runs[name].append(run)
                print(name, json.dumps(run), flush=True)
    median = {k: statistics.median(r["s_per_million_rows"] for r in v) for k, v in runs.items()}
    # The same comparison per byte loaded: rows of different widths, on an equal footing.
    per_gib = {k: statistics.median(r["s_per_gib"] for r in v)
               for k, v in runs.items() if v and "s_per_gib" in v[0]}
    document = {
        "command": f"python benchmarks/seed_vs_references.py --profile {args.profile} "
                   f"--pgbench-scale {args.pgbench_scale} --naive-rows {args.naive_rows} "
                   f"--reps {args.reps}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "median_s_per_million_rows": median,
        "ours_over_pgbench": round(median["ours"] / median["pgbench"], 2),
        "median_s_per_gib": per_gib,
        "ours_over_pgbench_per_gib": round(per_gib["ours"] / per_gib["pgbench"], 2),
        "pregenerated_over_pgbench": round(median["pregenerated"] / median["pgbench"], 2),
        "speedup_over_naive": round(median["naive"] / median["ours"], 1),
    }
    out = ROOT / "benchmarks" / "results" / "seed_vs_references.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: document[k] for k in ("median_s_per_million_rows", "ours_over_pgbench",
                                                "pregenerated_over_pgbench",
                                                "speedup_over_naive")}), f"written {out}")


if __name__ == "__main__":
    main()
