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
import tomllib
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


_HEADER = """\
# Budgets: shared buffers ~1.25x and p95 ~5x (25 ms at least) of the maxima over all cases
# and plan modes, measured per profile by `python benchmarks/measure_budgets.py --profile P`
# (seed 1). Buffers follow the plan and the data's layout (a few % between builds); p95
# follows the machine. Measured maxima:
"""
# The comment lines above [budget], and its key lines up to the next blank line or table.
_BLOCK = re.compile(r"(?:# Budgets[^\n]*\n(?:#[^\n]*\n)*)?\[budget\]\n(?:[^\[\n][^\n]*\n)*")
_MEASURED = re.compile(r"(?:--profile |# )([\w-]+)`?(?: \(seed 1\))?: ([\d,]+) buffers, "
                       r"p95 ([\d.]+) ms")


def write_budget(path: Path, profile: str, buffers: int, p95: float) -> None:
    """Sets `profile`'s budgets in the scenario's [budget] block, keeping other profiles'."""
    text = path.read_text()
    match = _BLOCK.search(text)
    old = match.group(0) if match else ""
    measured = {m[0]: (int(m[1].replace(",", "")), float(m[2]))
                for m in _MEASURED.findall(" ".join(old.split("\n# ")))}
    measured[profile] = (buffers, p95)
    table = tomllib.loads(old[old.index("[budget]"):]) if old else {"budget": {}}
    budget = table.get("budget", {})
    p95s, buffer_budgets = dict(budget.get("p95_ms", {})), dict(budget.get("shared_buffers", {}))
    p95s[profile] = max(25, round_up(p95 * 5))
    buffer_budgets[profile] = round_up(buffers * 1.25)
    block = _HEADER + "".join(f"# {name}: {b:,} buffers, p95 {t:.1f} ms.\n"
                              for name, (b, t) in measured.items())
    block += "[budget]\n"
    block += "p95_ms = { " + ", ".join(f"{k} = {v}" for k, v in p95s.items()) + " }\n"
    block += ("shared_buffers = { "
              + ", ".join(f"{k} = {v}" for k, v in buffer_budgets.items()) + " }\n")
    path.write_text(_BLOCK.sub(lambda _: block, text, count=1) if match else text + block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    maxima = measure(args.profile)
    document = json.dumps({k: {"shared_buffers": b, "p95_ms": round(p, 2)}
                           for k, (b, p) in maxima.items()}, indent=1)
    print(document)
    (ROOT / "benchmarks" / "results" / f"budgets_{args.profile}.json").write_text(document + "\n")
    if args.write:
        for name, (buffers, p95) in maxima.items():
            write_budget(ROOT / "scenarios" / f"{name}.toml", args.profile, buffers, p95)


if __name__ == "__main__":
    main()
