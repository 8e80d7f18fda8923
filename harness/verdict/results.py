"""Results: what a run measured and decided per item, and what it knows of itself; the
report, the workflows and the run all read these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.measure.capacity import IndexSize, TableSize
from harness.measure.explain import ModeMeasurement
from harness.project.scenarios import Case, Scenario
from harness.verdict.checks import Verdict


@dataclass(frozen=True)
class CaseResult:
    scenario: Scenario
    case: Case
    values: Mapping[str, Any]
    measurements: tuple[ModeMeasurement, ...]
    verdict: Verdict


@dataclass
class DatabaseFacts:
    """What the run's database says of itself (harness.database gathers these)."""

    server: str = ""
    server_version: str = ""
    revision: str = ""
    head: str = ""
    ready_seconds: float = 0.0  # until the database was ready: built, reused or attached
    row_counts: dict[str, int] = field(default_factory=dict)
    planner_settings: dict[str, str] = field(default_factory=dict)
    cache: str = ""  # "reused KEY", "stored KEY", or "" when the cache was not used
    projection: str = ""
    index_sizes: list[IndexSize] = field(default_factory=list)
    table_sizes: list[TableSize] = field(default_factory=list)
    # with --plans-stats: the file and where its statistics came from; plans only
    statistics: dict[str, str] | None = None
    migration: dict[str, Any] | None = None  # with --plans-migration-check on
    # with --plans-allow-existing-db on: the DSN's own database, which the harness did not
    # load; `profile` is then the profile whose budgets were asked for, or ""
    existing_db: bool = False
    # on a sharded cluster: where the rows live (harness.measure.placement.Placement)
    placement: dict[str, Any] | None = None


@dataclass
class RunFacts(DatabaseFacts):
    """What the report needs to say about the run as a whole: its database's facts and the
    run's own."""

    profile: str = ""
    seed: int = 0
    started_at: str = ""
    # the design document's per-endpoint claims, for capacity reviews
    endpoint_claims: dict[str, dict[str, str]] = field(default_factory=dict)
    write_cost: dict[str, Any] | None = None  # measured by plan-harness capacity-review
    index_growth: dict[str, Any] | None = None  # measured by plan-harness capacity-review
    # how much change against a reference regresses (harness.verdict.gate.Policy)
    policy: dict[str, float] = field(default_factory=dict)
    # items of the reference (a baseline file) that the project no longer has
    missing: list[str] = field(default_factory=list)
    # versions, git commit and more (harness.environment.run_environment)
    environment: dict[str, Any] = field(default_factory=dict)


def item_id(scenario: Scenario, case: Case) -> str:
    return f"{scenario.name}[{case.id}]"
