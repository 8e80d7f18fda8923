"""Expected indexes by definition: which live index an expectation means (its name, or the
new name of an identical definition), whether it is still what was recorded and valid, and
whether a plan that left it did better (a stale expectation, not a regression)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.measure.catalog import Catalog, definition_change
from harness.measure.explain import ModeMeasurement
from harness.project.scenarios import BUFFER_MARGIN, Budget, Case, Scenario
from harness.verdict import catalogue
from harness.verdict.gate import Severity

FAIL, WARN, INFO = Severity.FAIL, Severity.WARN, Severity.INFO


@dataclass(frozen=True)
class IndexFinding:
    """A finding about an expected index (harness.verdict.checks turns it into a Finding)."""

    severity: Severity
    check: str
    table: str
    message: str


@dataclass(frozen=True)
class Expected:
    """The expected access of one table: the live names that satisfy it (the written names
    that exist, valid and as recorded, and the new names of renamed ones) and what is wrong
    with the others."""

    table: str
    written: tuple[str, ...]
    live: tuple[str, ...]
    findings: tuple[IndexFinding, ...]


def expected_indexes(scenario: Scenario, case: Case, catalog: Catalog) -> list[Expected]:
    return [_expected(table, names, case.expect.definitions, catalog,
                      f"{scenario.path}: {_expect_field(scenario, case, table)}")
            for table, names in case.expect.accepted(scenario.table).items()]


def _expect_field(scenario: Scenario, case: Case, table: str) -> str:
    """Where the expectation of `table` was written: the scenario's or the case's."""
    main = table == scenario.table
    own = case.expect.indexes if main else case.expect.tables.get(table)
    scenario_level = scenario.expect.indexes if main else scenario.expect.tables.get(table)
    field = "expect.index" if main else f"expect.tables.{table}.index"
    if own != scenario_level:
        return f"cases[{scenario.cases.index(case)}].{field}"
    return field


def _expected(table: str, names: Sequence[str], recorded: Mapping[str, str],
              catalog: Catalog, where: str) -> Expected:
    live: list[str] = []
    findings: list[IndexFinding] = []
    for name in names:
        found, finding = _resolve(name, recorded.get(name), catalog)
        if found is not None:
            live.append(found)
        if finding is not None:
            findings.append(IndexFinding(finding[0], finding[1], table, finding[2]))
    if not live and not any(f.severity == FAIL for f in findings):
        findings.append(IndexFinding(
            FAIL, catalogue.INDEX_MISSING.name, table,
            f"{where}: {' or '.join(names)} does not exist at revision {catalog.revision}"))
    return Expected(table, tuple(names), tuple(live), tuple(findings))


def _resolve(name: str, recorded: str | None, catalog: Catalog
             ) -> tuple[str | None, tuple[Severity, str, str] | None]:
    """The live name `name` stands for, and what to say about it."""
    index = catalog.indexes.get(name)
    if index is None:
        renamed = catalog.by_definition.get(recorded) if recorded else None
        if renamed is None or not catalog.indexes[renamed].valid:
            return None, None
        return renamed, (WARN, catalogue.INDEX_RENAMED.name,
                         f"{name} is now named {renamed} (same definition: {recorded})")
    if not index.valid:
        return None, (FAIL, catalogue.INDEX_DEFINITION.name,
                      f"{name} is INVALID (a failed CREATE INDEX CONCURRENTLY leaves it so; "
                      "the planner cannot use it)")
    if recorded is None:
        return name, (INFO, catalogue.INDEX_DEFINITION.name,
                      f"{name}: definition not recorded, judged by name only "
                      "(plan-harness definitions --write records it)")
    if index.definition != recorded:
        return name, (FAIL, catalogue.INDEX_DEFINITION.name,
                      f"{name} is now {definition_change(recorded, index.definition)}")
    return name, None


def reads_fewer_everywhere(table: str, measurements: Sequence[ModeMeasurement],
                           reference_buffers: Mapping[str, int], budget: Budget,
                           profile: str) -> str | None:
    """Why the plans of `table` are better than what the expectation was written for, or
    None: in every mode the plan reads `table` through an index (no sequential scan) and
    reads fewer shared buffers than the reference's, or where there is none, than the
    budget's measured figure (the budget divided by its margin)."""
    parts = []
    for m in measurements:
        if m.plan.root.actual_rows is None or not m.plan.indexes_on(table):
            return None
        if any(n.node_type == "Seq Scan" for n in m.plan.scans_of(table)):
            return None
        then, source = reference_buffers.get(m.mode), "the reference"
        if then is None:
            limit = budget.buffers_limit(profile, m.mode)
            if limit is None:
                return None
            then, source = int(BUFFER_MARGIN.measured(limit)), "the budget's measured figure"
        if m.plan.shared_buffers >= then:
            return None
        parts.append(f"{m.mode} {m.plan.shared_buffers:,} < {then:,} ({source})")
    return "; ".join(parts) if parts else None
