"""The mutation proof at the ci scale: each of the design document's ten indexes is dropped,
rebuilt without its last key column and marked invalid in turn; the suite must fail, or the
index must be redundant or unused (and the proof says what serves instead). Target: none
missed, for any kind."""

from __future__ import annotations

import os

from harness.config import Config
from harness.project.manifest import read_project
from harness.workflows.mutation import (
    CAUGHT,
    DROP,
    FEWER_COLUMNS,
    INVALID,
    MISSED,
    REDUNDANT,
    UNUSED,
    mutation_proof,
    report_markdown,
)
from support import REPO


def test_every_seed_index_is_caught_or_redundant_for_every_kind() -> None:
    project = read_project(REPO / "fixtures", REPO / "scenarios")
    assert len(project.mutation_indexes) == 10
    config = Config.resolve({"profile": "ci", "runs": "1", "warmup": "0"}, {}, os.environ, REPO)
    report = mutation_proof(config.run_options(), project, None, lambda message: None)
    mutations = {(m.kind, m.index): m for m in report.mutations}
    assert {index for _, index in mutations} == set(project.mutation_indexes)
    assert report.tally[MISSED] == 0, report.missed
    for mutation in mutations.values():
        if mutation.verdict == CAUGHT:
            assert mutation.failing, mutation
    # the twin never built fails nothing, and says why; ix_calls_company_id is one of four
    # indexes calls_by_tenant accepts, and which one a build's plans pick follows ANALYZE's
    # sample: unused, redundant, or caught by a budget when the one left reads more
    company = mutations[DROP, "ix_calls_company_id"]
    assert company.verdict in (REDUNDANT, UNUSED, CAUGHT), company
    twin = mutations[DROP, "ix_call_analysis_tenant_id_analyzed_at"]
    assert twin.verdict == REDUNDANT and "not built at head" in twin.reason
    others = {index for kind, index in mutations if kind == DROP} - {company.index, twin.index}
    assert len(others) == 8
    assert all(mutations[DROP, index].verdict == CAUGHT for index in others), [
        mutations[DROP, index] for index in others]
    created = mutations[DROP, "ix_calls_company_id_created_at"]
    assert "dashboard_metrics[median-tenant-30-days]" in created.failing
    # the recorded definitions catch a narrowed index by name and an invalid one as such
    narrowed = mutations[FEWER_COLUMNS, "ix_calls_company_id_status"]
    assert narrowed.verdict == CAUGHT
    assert all("item: index_definition" in checks for checks in narrowed.failing.values())
    invalid = mutations[INVALID, "ix_appointments_company_id_scheduled_start"]
    assert invalid.verdict == CAUGHT
    assert all(mutations[INVALID, index].verdict == CAUGHT for index in others)
    assert (FEWER_COLUMNS, "ix_calls_company_id") not in mutations  # one key column
    # each failing check named once in the why, with its plan modes
    line = next(row for row in report_markdown(report).splitlines()
                if row.startswith("| ix_calls_company_id_status | drop |"))
    assert line.count("index_missing") == 1 and line.count("shared_buffers") == 1, line
