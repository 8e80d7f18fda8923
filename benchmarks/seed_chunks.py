"""Benchmark: the time of each chunk of one generated table, loaded on one session, with the
chunk statement prepared (psycopg's default: from the sixth run on) and never prepared.

    python benchmarks/seed_chunks.py --profile capacity --table calls --chunks 30

A prepared statement may switch to a generic plan after five runs, and a generic plan casts
the statement's parameters (vocabularies, bounds) for every row instead of once. The two
loads go into two empty tables of the same database, one after the other, a round each way
per --rounds. Results go to results/seed_chunks_<profile>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg

from harness.build import datagen
from harness.build import migrations as schema
from harness.build.datagen import LoadContext
from harness.project.manifest import read_project
from harness.server.embedded import EmbeddedServer
from harness.server.provisioning import harness_database

ROOT = Path(__file__).resolve().parent.parent
CHUNK_ROWS = 100_000


class StatementRecorder(LoadContext):
    """Runs a generator without loading anything: keeps each generated table's statement."""

    statements: dict[str, tuple[str, dict[str, Any]]]

    def insert_generated(self, table: str, statement: str, total: int,
                         params: Mapping[str, Any] | None = None, unit: str = "rows") -> int:
        self.statements[table] = (statement, dict(params or {}))
        return 0

    def insert_derived_together(self, steps: Sequence[tuple[str, str, Mapping[str, Any]]]
                                ) -> dict[str, int]:
        return {}


def chunk_seconds(conninfo: str, statement: str, params: dict[str, Any], chunks: int,
                  prepare: bool | None) -> list[float]:
    with psycopg.connect(conninfo) as conn:
        datagen.prepare_session(conn, 1)
        seconds = []
        for k in range(chunks):
            started = time.perf_counter()
            conn.execute(statement, {**params, "lo": k * CHUNK_ROWS + 1,
                                     "hi": (k + 1) * CHUNK_ROWS}, prepare=prepare)
            conn.commit()
            seconds.append(round(time.perf_counter() - started, 3))
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="capacity")
    parser.add_argument("--table", default="calls")
    parser.add_argument("--chunks", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    project = read_project(ROOT / "fixtures", ROOT / "scenarios")
    runs: dict[str, list[list[float]]] = {"prepared": [], "never_prepared": []}
    with EmbeddedServer() as server, harness_database(server) as db:
        schema.upgrade(db.conninfo, project.migrations_dir, project.load_revision)
        with psycopg.connect(db.conninfo) as conn:
            datagen.DeferredKeys.drop(conn)
            recorder = StatementRecorder(conn, project.profile(args.profile).data, 1,
                                         lambda m: None)
            recorder.statements = {}
            project.generator().generate(recorder)
            conn.commit()
            statement, params = recorder.statements[args.table]
            for _ in range(args.rounds):
                for name, prepare in (("prepared", None), ("never_prepared", False)):
                    conn.execute(f"TRUNCATE {args.table}")
                    conn.commit()
                    runs[name].append(chunk_seconds(db.conninfo, statement, params,
                                                    args.chunks, prepare))
                    print(name, runs[name][-1], flush=True)
    document = {
        "command": f"python benchmarks/seed_chunks.py --profile {args.profile} "
                   f"--table {args.table} --chunks {args.chunks} --rounds {args.rounds}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "chunk_rows": CHUNK_ROWS,
        "runs": runs,
        "median_chunk_s": {
            name: {"chunks_1_to_10": round(statistics.median(s for r in rs for s in r[:10]), 3),
                   "chunks_11_on": round(statistics.median(s for r in rs for s in r[10:]), 3)}
            for name, rs in runs.items()},
        "total_s": {name: [round(sum(r), 1) for r in rs] for name, rs in runs.items()},
    }
    out = ROOT / "benchmarks" / "results" / f"seed_chunks_{args.profile}.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps({k: document[k] for k in ("median_chunk_s", "total_s")}), f"written {out}")


if __name__ == "__main__":
    main()
