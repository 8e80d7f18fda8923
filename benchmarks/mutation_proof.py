"""The mutation proof's tally: for each index the project lists (fixtures/project.toml,
`mutation_proof.indexes`: the design document's ten), drop it with a migration, run every
scenario case, undo it. Caught / redundant / missed, with the items that named each index.

    python benchmarks/mutation_proof.py [--profile ci] [--runs 1]

Results go to results/mutation_proof_<profile>.json; tests/test_mutation_proof.py checks the
same at ci on every CI run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from harness.config import Config
from harness.mutation import mutation_proof
from harness.project import load_project

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--runs", default="1")
    args = parser.parse_args()
    project = load_project(ROOT / "fixtures", ROOT / "scenarios")
    config = Config.resolve({"profile": args.profile, "runs": args.runs, "warmup": "0"}, {},
                            os.environ, ROOT)
    started = time.monotonic()
    mutations = mutation_proof(config, project, project.mutation_indexes,
                               lambda m: print(f"plan-harness: {m}", file=sys.stderr))
    tally = Counter(m.verdict for m in mutations)
    document = {
        "command": f"python benchmarks/mutation_proof.py --profile {args.profile} "
                   f"--runs {args.runs}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.monotonic() - started, 1),
        "tally": {v: tally.get(v, 0) for v in ("caught", "redundant", "missed")},
        "mutations": [asdict(m) for m in mutations],
    }
    out = ROOT / "benchmarks" / "results" / f"mutation_proof_{args.profile}.json"
    out.write_text(json.dumps(document, indent=1) + "\n")
    for m in mutations:
        print(f"{m.verdict:9} {m.index}: {m.reason}")
    print(json.dumps(document["tally"]), f"in {document['seconds']} s; written {out}")


if __name__ == "__main__":
    main()
