"""Decision: what a whole run, or a comparison of two, comes to; the exit code is read from
it and from nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.verdict.comparison import judge_runs
from harness.verdict.results import CaseResult, item_id

Document = Mapping[str, Any]


@dataclass(frozen=True)
class Decision:
    """What a run or a comparison comes to, for its exit code: `regressed` (a check failed,
    an item regressed, is missing or errors where it ran before, or the migration check
    failed) outranks `broken` (an item could not be measured: a scenario or a project that
    is broken, not a plan that got worse)."""

    regressed: bool
    broken: bool = False


def decide_comparison(head: Document, base: Document,
                      migration_failures: Sequence[str]) -> Decision:
    """Head against base: an item that regressed, or a failed migration check, regresses;
    items that fail at both revisions with nothing regressed are a broken scenario."""
    comparison = judge_runs(head, base)
    return Decision(bool(comparison.regressed or migration_failures),
                    bool(comparison.broken_everywhere))


def decide_run(results: Sequence[CaseResult], missing: Sequence[str],
               migration_failures: Sequence[str], referenced: set[str]) -> Decision:
    """A single run: a failing item, an item gone from the baseline, a failed migration
    check, or an error on an item an earlier run measured regresses; an error on a new item
    is a broken scenario."""
    errored = {item_id(r.scenario, r.case) for r in results if r.verdict.outcome == "error"}
    failed = any(r.verdict.outcome == "fail" for r in results)
    regressed = bool(failed or missing or migration_failures or errored & referenced)
    return Decision(regressed, bool(errored))
