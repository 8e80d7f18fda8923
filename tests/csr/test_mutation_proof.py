"""The mutation proof at the ci scale: each of the design document's ten indexes is dropped
by a migration in turn; the suite must fail, or the index must be redundant or unused (and
the proof says what serves instead). Target: none missed."""

from __future__ import annotations

import os

from harness.config import Config
from harness.project.manifest import read_project
from harness.workflows.mutation import CAUGHT, MISSED, REDUNDANT, UNUSED, mutation_proof
from support import REPO


def test_every_seed_index_is_caught_or_redundant() -> None:
    project = read_project(REPO / "fixtures", REPO / "scenarios")
    assert len(project.mutation_indexes) == 10
    config = Config.resolve({"profile": "ci", "runs": "1", "warmup": "0"}, {}, os.environ, REPO)
    report = mutation_proof(config.run_options(), project, None, lambda message: None)
    mutations = {m.index: m for m in report.mutations}
    assert set(mutations) == set(project.mutation_indexes)
    assert report.tally[MISSED] == 0, report.missed
    for mutation in mutations.values():
        if mutation.verdict == CAUGHT:
            assert mutation.failing, mutation
    # the two that do not fail the suite, and why
    company = mutations["ix_calls_company_id"]
    assert company.verdict in (REDUNDANT, UNUSED), company
    twin = mutations["ix_call_analysis_tenant_id_analyzed_at"]
    assert twin.verdict == REDUNDANT and "not built at head" in twin.reason
    assert report.tally[CAUGHT] == 8
    created = mutations["ix_calls_company_id_created_at"]
    assert "dashboard_metrics[median-tenant-30-days]" in created.failing
