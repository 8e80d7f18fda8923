"""The report's sizes on a database whose tables the server estimates at 0 rows (an existing
database never analysed, a cluster's coordinator read as one node): no bytes per row, and
the report renders."""

from __future__ import annotations

import json
from dataclasses import asdict

from harness.measure.capacity import IndexSize, TableSize
from harness.report.document import results_document
from harness.report.render import render_html, render_summary
from harness.verdict.gate import Policy
from harness.verdict.results import RunFacts
from support import validate_results


def test_indexes_of_tables_estimated_at_0_rows_render_without_a_chart() -> None:
    empty = IndexSize(index="ix_calls_company_id_created_at", table="calls", size_bytes=8192,
                      table_rows=0, bytes_per_row=None, projected_rows=100_000_000,
                      projected_bytes=None, claimed_bytes_per_row=16.0, claimed_total="1.6GB",
                      method="btree", columns=("company_id", "created_at"))
    measured = IndexSize(index="ix_calls_created_at", table="calls", size_bytes=8192,
                         table_rows=100, bytes_per_row=81.92, projected_rows=None,
                         projected_bytes=None, claimed_bytes_per_row=None, claimed_total=None)
    facts = RunFacts(profile="ci", policy=asdict(Policy()), started_at="2026-01-01T00:00:00+00:00",
                     index_sizes=[empty, measured], table_sizes=[TableSize(
                         "calls", 0, 0, 8192, 16384, None, 100_000_000, None)])
    document = json.loads(json.dumps(results_document(facts, []), default=str))
    validate_results(document)
    html = render_html(document)
    assert "ix_calls_company_id_created_at" in html
    assert 'aria-label="bytes per row, measured and claimed"' not in html
    assert render_summary(document).startswith("## plan-harness: ")


def test_a_clusters_placement_is_in_the_capacity_section_and_the_summary() -> None:
    from harness.measure.placement import cluster_sizes
    from harness.project.manifest import Projection
    from harness.server.providers import ShardPlacement
    shards = [ShardPlacement("calls", 1, "w1:5432", 900, 9000),
              ShardPlacement("calls", 2, "w2:5432", 100, 1000),
              ShardPlacement("calls", 3, "w2:5432", 0, 8192)]
    table = TableSize("calls", 0, 0, 10_000, 8_192, None, None, None)
    _, [sized], placement = cluster_sizes([], [table], shards, Projection())
    assert (sized.rows, sized.bytes_per_row) == (1000, 10.0)
    [calls] = placement["tables"]
    assert (calls["busiest_node"], calls["busiest_share"], calls["empty_shards"]) == (
        "w2:5432", 0.505, 1)  # 9,192 of 18,192 bytes
    facts = RunFacts(profile="ci@citus", policy=asdict(Policy()),
                     started_at="2026-01-01T00:00:00+00:00", table_sizes=[sized],
                     placement=placement)
    document = json.loads(json.dumps(results_document(facts, []), default=str))
    validate_results(document)
    assert "Placement on the cluster" in render_html(document)
