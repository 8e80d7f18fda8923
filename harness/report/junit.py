"""JUnit figures: what a plan item measured, as `<property>` entries of its `<testcase>`
(pytest's user_properties), so a CI system's test report shows the expected and the used
index, latency and shared buffers per plan mode without opening the HTML report."""

from __future__ import annotations

from harness.verdict.results import CaseResult


def junit_properties(result: CaseResult) -> list[tuple[str, str]]:
    """`verdict` (pass, warn, fail or error) and the first `reason` of a warning, failure or
    error, then per plan mode `<mode>.expected_index`, `<mode>.used_index` (the
    indexes the plan read on the scenario's table, or its scan when none), `<mode>.p50_ms`,
    `<mode>.p95_ms` (absent when not measured: a projected run plans only) and
    `<mode>.shared_buffers`."""
    table = result.scenario.table
    properties = [("verdict", result.verdict.outcome)]
    if result.verdict.first_reason:
        properties.append(("reason", result.verdict.first_reason))
    for m in result.measurements:
        used = sorted(m.plan.indexes_on(table)) or [m.plan.access_summary(table)]
        properties += [(f"{m.mode}.expected_index", " or ".join(result.case.expect.indexes)),
                       (f"{m.mode}.used_index", ", ".join(used))]
        if m.timing is not None:
            properties += [(f"{m.mode}.p50_ms", f"{m.timing.median_ms:.3f}"),
                           (f"{m.mode}.p95_ms", f"{m.timing.p95_ms:.3f}")]
        properties.append((f"{m.mode}.shared_buffers", str(m.plan.shared_buffers)))
    return properties
