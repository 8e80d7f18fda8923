"""Measures, per scenario, the largest shared-buffer count and p95 over all its cases and
plan modes at a profile: the figures the scenario files' budgets are derived from.

    python benchmarks/measure_budgets.py --profile ci [--write]

With --write, each scenario's [budget] block for that profile is rewritten to ~1.25x the
buffers and ~5x the p95 (25 ms at least: a CI run on this shared machine once measured
10.9 ms for a p95 measured at 3.1 ms alone).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from harness.config import Config
from harness.project import load_project
from harness.scenarios import load_scenarios
from harness.session import PlanRun

ROOT = Path(__file__).resolve().parent.parent


def round_up(value: float, digits: int = 2) -> int:
    if value <= 1:
        return 1
    step = 10 ** max(len(str(int(value))) - digits, 0)
    return int(math.ceil(value / step) * step)


def measure(profile: str) -> dict[str, tuple[int, float]]:
    config = Config.resolve({"profile": profile}, {}, {}, ROOT)
    project = load_project(ROOT / "fixtures", ROOT / "scenarios")
    maxima: dict[str, tuple[int, float]] = {}
    with PlanRun(config, project, lambda message: None) as run:
        for scenario in load_scenarios(project.scenarios_dir):
            buffers, p95 = 0, 0.0
            for case in scenario.cases:
                for m in run.run_case(scenario, case).measurements:
                    buffers = max(buffers, m.plan.shared_buffers)
                    p95 = max(p95, m.timing.p95_ms if m.timing else 0.0)
            maxima[scenario.name] = (buffers, p95)
    return maxima


def write_budget(path: Path, profile: str, buffers: int, p95: float) -> None:
    block = (f"# Budgets at the {profile} profile: shared buffers ~1.25x and p95 ~5x (25 ms at "
             f"least) of the\n# maxima over all cases and plan modes measured by "
             f"`python benchmarks/measure_budgets.py\n# --profile {profile}` (seed 1): "
             f"{buffers:,} buffers, p95 {p95:.1f} ms.\n# Buffers follow the plan and the "
             f"data's layout (a few % between builds); p95 follows the machine.\n[budget]\n"
             f"p95_ms = {{ {profile} = {max(25, round_up(p95 * 5))} }}\n"
             f"shared_buffers = {{ {profile} = {round_up(buffers * 1.25)} }}\n")
    text = path.read_text()
    # The comment lines above [budget], and its key lines up to the next blank line or table.
    pattern = re.compile(r"(?:# Budgets at the [^\n]*\n(?:#[^\n]*\n)*)?\[budget\]\n"
                         r"(?:[^\[\n][^\n]*\n)*")
    path.write_text(pattern.sub(lambda _: block, text, count=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    maxima = measure(args.profile)
    print(json.dumps({k: {"shared_buffers": b, "p95_ms": round(p, 2)}
                      for k, (b, p) in maxima.items()}, indent=1))
    if args.write:
        for name, (buffers, p95) in maxima.items():
            write_budget(ROOT / "scenarios" / f"{name}.toml", args.profile, buffers, p95)


if __name__ == "__main__":
    main()
