"""Budgets from a run: per case and plan mode, the measured shared buffers and p95 with
margins (harness.project.scenarios.BUFFER_MARGIN and P95_MARGIN: ceil(measured x ratio) +
slack), written into the case's own `budget` keys of its scenario file. A driver's prepared
statement runs the generic plan after five executions, so each mode gets its own limit: a
generic plan that reads 8x the custom one's buffers is not hidden under the custom's budget.

The noise canary's median of the run is recorded as `[checks] canary_ms` in project.toml, so
a later run on a busier or slower machine divides its own slowdown out before judging a
p95."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ScenarioError
from harness.files import write_atomically
from harness.measure.explain import ModeMeasurement
from harness.project.scenarios import BUFFER_MARGIN, EVERY_MODE, P95_MARGIN, read_scenario
from harness.verdict.checks import access_signature
from harness.verdict.results import CaseResult, item_id


@dataclass(frozen=True)
class ModeProposal:
    mode: str
    shared_buffers: int  # measured
    p95_ms: float
    budget_buffers: int  # proposed
    budget_p95_ms: int
    current_buffers: int | None  # the budget in force now, if any
    current_p95_ms: float | None


@dataclass(frozen=True)
class Proposal:
    item: str
    path: Path
    case_index: int
    modes: tuple[ModeProposal, ...]


def propose(results: Sequence[CaseResult], profile: str) -> list[Proposal]:
    """A proposal per measured case (an item that errored or was only planned has none).
    Plan modes that read their tables alike (the same indexes, whatever the scan type) share
    the larger figures: which scan type the planner takes for one index, a bitmap scan or a
    plain one, flips with another seed's statistics, and a plain index scan counts a heap
    page again at each row."""
    proposals = []
    for r in results:
        timed = [m for m in r.measurements if m.timing is not None]
        accepted = r.case.expect.accepted(r.scenario.table)
        alike: dict[object, list[ModeMeasurement]] = {}
        for m in timed:
            alike.setdefault(access_signature(m.plan, accepted), []).append(m)
        modes = tuple(_mode_proposal(m, alike[access_signature(m.plan, accepted)], r, profile)
                      for m in timed)
        if modes:
            proposals.append(Proposal(item_id(r.scenario, r.case), r.scenario.path,
                                      r.scenario.cases.index(r.case), modes))
    return proposals


def _mode_proposal(m: ModeMeasurement, alike: Sequence[ModeMeasurement], r: CaseResult,
                   profile: str) -> ModeProposal:
    buffers = max(a.plan.shared_buffers for a in alike)
    p95 = max(a.timing.p95_ms for a in alike if a.timing is not None)
    return ModeProposal(m.mode, m.plan.shared_buffers, m.timing.p95_ms if m.timing else 0.0,
                        BUFFER_MARGIN.limit(buffers), P95_MARGIN.limit(p95),
                        r.case.budget.buffers_limit(profile, m.mode),
                        r.case.budget.p95_limit(profile, m.mode))


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
        p95 = {**own.p95_ms, profile: {m.mode: m.budget_p95_ms for m in proposal.modes}}
        buffers = {**own.shared_buffers,
                   profile: {m.mode: m.budget_buffers for m in proposal.modes}}
        text = _set_case_budget(path, text, proposal.case_index, p95, buffers)
    try:
        written = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: budgets could not be written into this file's layout "
                            f"({exc}); set them by hand") from None
    for proposal in proposals:
        budget = written["cases"][proposal.case_index].get("budget", {})
        wanted = {m.mode: m.budget_buffers for m in proposal.modes}
        if budget.get("shared_buffers", {}).get(profile) != wanted:
            raise ScenarioError(f"{path}: cases[{proposal.case_index}].budget: could not be "
                                "written into this file's layout; set it by hand")
    write_atomically(path, text, "the scenario file", ScenarioError)


def _set_case_budget(path: Path, text: str, index: int, p95: Limits, buffers: Limits) -> str:
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


Limits = Mapping[str, Mapping[str, float]]


def _inline(limits: Limits) -> str:
    """`{ ci = { custom = 120, generic = 140 }, capacity = 900 }` (one number: every mode)."""
    def value(by_mode: Mapping[str, float]) -> str:
        if set(by_mode) == {EVERY_MODE}:
            return _number(by_mode[EVERY_MODE])
        return "{ " + ", ".join(f"{mode} = {_number(v)}" for mode, v in by_mode.items()) + " }"
    return "{ " + ", ".join(f"{_key(k)} = {value(v)}" for k, v in limits.items()) + " }"


def _number(value: float) -> str:
    """A TOML number as short as it is exact (never 1.2e+06)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


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
