"""Budgets from a run: per case, the largest shared-buffer count and p95 over its plan modes,
with margins, written into the case's own `budget` keys of its scenario file.

Margins: shared buffers x1.25 (page layout moves a few percent between builds), rounded up
to two significant figures; p95 x5 and at least 25 ms (a shared CI machine is slower and
burstier than the one that measured). The noise canary's median of the run is recorded as
`[checks] canary_ms` in project.toml, so a later run on a busier or slower machine divides
its own slowdown out before judging a p95."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ScenarioError
from harness.files import write_atomically
from harness.project.scenarios import read_scenario
from harness.verdict.results import CaseResult, item_id

BUFFER_MARGIN, P95_MARGIN, P95_FLOOR_MS = 1.25, 5.0, 25


@dataclass(frozen=True)
class Proposal:
    item: str
    path: Path
    case_index: int
    shared_buffers: int  # measured, the largest over the plan modes
    p95_ms: float
    budget_buffers: int
    budget_p95_ms: int


def round_up(value: float, digits: int = 2) -> int:
    if value <= 1:
        return 1
    step = 10 ** max(len(str(int(value))) - digits, 0)
    return int(math.ceil(value / step) * step)


def propose(results: Sequence[CaseResult]) -> list[Proposal]:
    """A proposal per measured case (an item that errored or was only planned has none)."""
    proposals = []
    for r in results:
        timed = [m for m in r.measurements if m.timing is not None]
        if not timed:
            continue
        buffers = max(m.plan.shared_buffers for m in timed)
        p95 = max(m.timing.p95_ms for m in timed if m.timing is not None)
        proposals.append(Proposal(
            item_id(r.scenario, r.case), r.scenario.path, r.scenario.cases.index(r.case),
            buffers, p95, round_up(buffers * BUFFER_MARGIN),
            max(P95_FLOOR_MS, round_up(p95 * P95_MARGIN))))
    return proposals


_CASES_HEADER = re.compile(r"^\[\[cases\]\]\s*$", re.MULTILINE)
_NEXT_HEADER = re.compile(r"^\[", re.MULTILINE)
_BUDGET_LINE = re.compile(r"^budget\s*(\.|=)")


def write_case_budgets(path: Path, profile: str, proposals: Sequence[Proposal]) -> None:
    """Sets `profile`'s budgets in each proposed case of one scenario file, keeping the
    case's other profiles; the file is read back and must say what was written."""
    original = path.read_text()
    scenario = read_scenario(path)
    text = original
    for proposal in sorted(proposals, key=lambda p: p.case_index, reverse=True):
        own = scenario.cases[proposal.case_index].own_budget
        p95 = {**own.p95_ms, profile: proposal.budget_p95_ms}
        buffers = {**own.shared_buffers, profile: proposal.budget_buffers}
        text = _set_case_budget(path, text, proposal.case_index, p95, buffers)
    try:
        written = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: budgets could not be written into this file's layout "
                            f"({exc}); set them by hand") from None
    for proposal in proposals:
        budget = written["cases"][proposal.case_index].get("budget", {})
        if budget.get("shared_buffers", {}).get(profile) != proposal.budget_buffers:
            raise ScenarioError(f"{path}: cases[{proposal.case_index}].budget: could not be "
                                "written into this file's layout; set it by hand")
    write_atomically(path, text, "the scenario file", ScenarioError)


def _set_case_budget(path: Path, text: str, index: int, p95: dict[str, float],
                     buffers: dict[str, int]) -> str:
    starts = [m.end() for m in _CASES_HEADER.finditer(text)]
    if index >= len(starts):
        raise ScenarioError(f"{path}: cases[{index}]: write its [[cases]] header on a line "
                            "of its own to have budgets written")
    start = starts[index]
    after = _NEXT_HEADER.search(text, start)
    end = after.start() if after else len(text)
    block = [line for line in text[start:end].split("\n") if not _BUDGET_LINE.match(line)]
    while block and not block[-1].strip():
        block.pop()
    block += [f"budget.p95_ms = {_inline(p95)}", f"budget.shared_buffers = {_inline(buffers)}"]
    rest = text[end:].lstrip("\n")
    return text[:start] + "\n".join(block) + ("\n\n" + rest if rest else "\n")


def _inline(values: dict[str, float] | dict[str, int]) -> str:
    return "{ " + ", ".join(f"{_key(k)} = {v:g}" for k, v in values.items()) + " }"


def _key(name: str) -> str:
    """A TOML key: bare when it can be, quoted otherwise (a cluster's `"ci@citus"`)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


_CHECKS_HEADER = re.compile(r"^\[checks\]\s*$", re.MULTILINE)
_CANARY_LINE = re.compile(r"^canary_ms\s*=.*$", re.MULTILINE)


def record_canary(manifest: Path, canary_ms: float) -> None:
    """`[checks] canary_ms` of project.toml: the machine speed the budgets were set at."""
    text = manifest.read_text()
    line = f"canary_ms = {canary_ms:.3f}"
    if _CANARY_LINE.search(text):
        text = _CANARY_LINE.sub(line, text, count=1)
    elif (header := _CHECKS_HEADER.search(text)) is not None:
        text = text[:header.end()] + "\n" + line + text[header.end():]
    else:
        text = text.rstrip("\n") + f"\n\n[checks]\n{line}\n"
    write_atomically(manifest, text, "the project file", ScenarioError)
