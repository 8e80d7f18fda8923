"""The check catalogue: every check a finding can name, registered once with how it is read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Family(StrEnum):
    """What a check looks at."""

    RUN = "run"  # whether the item could be measured at all
    PLAN = "plan"  # the plan's nodes against the scenario's expectations
    BUDGET = "budget"  # measured figures against the case's budgets
    ESTIMATE = "estimate"  # the planner's row estimates against what ran
    REFERENCE = "reference"  # the item against an earlier run of it


@dataclass(frozen=True)
class Check:
    """One check. `name` is what findings and results.json carry; the rest says how the
    verdict, the report, compare and the mutation proof treat its findings."""

    name: str
    family: Family
    title: str  # the check in a few words, for people
    reads: str = ""  # the scenario field or project setting it judges against
    # latency: one short run on a busy machine cannot judge it, so a failure is measured
    # again (the first miss reported as `remeasured`) and a mutation is never caught by it
    noisy: bool = False
    remeasured: str = ""
    shown: bool = False  # an information finding worth showing beside the item
    # compare: a failing finding of it at head is the head's own judgement against the
    # base (worse); a finding of an `improves` check is one the other way (better)
    regresses: bool = False
    improves: bool = False
    # compare: failing at head in a plan mode that did not fail it at base is a regression
    # although the outcome stayed (the item failed at base for another reason)
    new_failure_regresses: bool = False
    # compare: a warning of it at head that the base did not have (per mode) is a
    # regression; other new warnings are shown, never gating
    new_warning_regresses: bool = False


ERROR = Check("error", Family.RUN, "could not be measured")
INDEX_MISSING = Check("index_missing", Family.PLAN, "an expected index does not exist",
                      reads="expect.index, expect.tables.<table>.index",
                      new_warning_regresses=True)
INDEX_DEFINITION = Check("index_definition", Family.PLAN,
                         "an expected index is invalid or not defined as recorded",
                         reads="expect.definitions", shown=True, new_failure_regresses=True,
                         new_warning_regresses=True)
INDEX_RENAMED = Check("index_renamed", Family.PLAN,
                      "an expected index exists under another name, defined alike",
                      reads="expect.definitions")
INDEX = Check("index", Family.PLAN, "the plan does not use an expected index",
              reads="expect.index, expect.tables.<table>.index", new_failure_regresses=True,
              new_warning_regresses=True)
STALE_EXPECTATION = Check("stale_expectation", Family.PLAN,
                          "a better plan than the expectation was written for",
                          reads="expect.index, expect.definitions", improves=True)
SEQ_SCAN = Check("seq_scan", Family.PLAN, "a sequential scan of a large table",
                 reads="expect.seq_scan_min_rows ([checks] seq_scan_min_rows by default)",
                 new_warning_regresses=True)
FORBIDDEN_NODE = Check("forbidden_node", Family.PLAN, "a node the scenario forbids",
                       reads="expect.forbid_nodes", new_warning_regresses=True)
TABLE_UNCHECKED = Check("table_unchecked", Family.PLAN,
                        "a large table read with no expected access path",
                        reads="expect.tables", new_warning_regresses=True)
PLANS_DIFFER = Check("plans_differ", Family.PLAN, "the custom and generic plans differ",
                     reads="expect.plan_modes")
PLAN_CHANGED = Check("plan_changed", Family.PLAN, "the plan changed while it was timed")
BUDGETS = Check("budgets", Family.BUDGET, "planned only: latency and buffers not measured")
P95 = Check("p95", Family.BUDGET, "p95 latency over its budget", reads="budget.p95_ms",
            noisy=True, remeasured="p95_remeasured")
P95_REMEASURED = Check("p95_remeasured", Family.BUDGET,
                       "p95 over budget at first, measured again", shown=True)
SHARED_BUFFERS = Check("shared_buffers", Family.BUDGET, "shared buffers over their budget",
                       reads="budget.shared_buffers")
MISESTIMATE = Check("misestimate", Family.ESTIMATE, "a row estimate far off",
                    reads="[checks] misestimate_factor")
BUFFERS_GREW = Check("buffers_grew", Family.REFERENCE,
                     "more shared buffers than the reference, beyond the tolerance")
BUFFERS_SHRANK = Check("buffers_shrank", Family.REFERENCE,
                       "fewer shared buffers than the reference", shown=True)
PLAN_SHAPE = Check("plan_shape", Family.REFERENCE, "another plan than the reference's",
                   shown=True)
LATENCY_SLOWER = Check("latency_slower", Family.REFERENCE,
                       "slower than the reference, beyond the noise", noisy=True,
                       remeasured="latency_remeasured", regresses=True)
LATENCY_FASTER = Check("latency_faster", Family.REFERENCE,
                       "faster than the reference, beyond the noise", shown=True,
                       improves=True, remeasured="latency_remeasured")
LATENCY_REMEASURED = Check("latency_remeasured", Family.REFERENCE,
                           "slower or faster than the reference at first, measured again",
                           shown=True)

# A distributed plan's (harness.verdict.distributed, on a Citus cluster)
ROUTER = Check("router", Family.PLAN, "a tenant-scoped query read more than one shard",
               reads="fan_out, [distribution] tables", new_failure_regresses=True)
SHARD_INDEX = Check("shard_index", Family.PLAN,
                    "a task on a shard with rows does not use an expected index",
                    reads="expect.index, [distribution] min_shard_rows",
                    new_failure_regresses=True)
TASKS = Check("tasks", Family.PLAN, "the tasks of a distributed plan", shown=True)
GENERIC_NOT_APPLICABLE = Check("generic_not_applicable", Family.PLAN,
                               "no generic plan on a cluster", shown=True)

CHECKS: dict[str, Check] = {check.name: check for check in (
    ERROR, INDEX_MISSING, INDEX_DEFINITION, INDEX_RENAMED, INDEX, STALE_EXPECTATION, SEQ_SCAN,
    FORBIDDEN_NODE, TABLE_UNCHECKED, PLANS_DIFFER, PLAN_CHANGED, BUDGETS, P95, P95_REMEASURED,
    SHARED_BUFFERS, MISESTIMATE, BUFFERS_GREW, BUFFERS_SHRANK, PLAN_SHAPE, LATENCY_SLOWER,
    LATENCY_FASTER, LATENCY_REMEASURED, ROUTER, SHARD_INDEX, TASKS, GENERIC_NOT_APPLICABLE)}

# Checks of a kind of plan the core does not read (a distributed plan's): each a function
# evaluate() calls with the item's scenario, case, measurements and context, returning
# findings. A module registers its own on import (the run's database imports them).
PLAN_KIND_CHECKS: list[Callable[..., list[Any]]] = []

# Information findings shown beside an item although they do not change its outcome.
SHOWN_INFO = frozenset(name for name, check in CHECKS.items() if check.shown)
# Checks one short run cannot judge fairly.
NOISY = frozenset(name for name, check in CHECKS.items() if check.noisy)


def title(name: str) -> str:
    """A check's title; a name only an older results file has is its own title."""
    found = CHECKS.get(name)
    return found.title if found else name


def remeasured(name: str) -> str:
    """The information check that reports a noisy check's first miss, measured again."""
    found = CHECKS.get(name)
    if found is None or not found.remeasured:
        raise ValueError(f"{name} is not a check measured again")
    return found.remeasured
