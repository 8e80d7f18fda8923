"""The noise canary's size: fixed CPU work on the server in units of about a millisecond,
run after each timed execution for about as long as the execution took. Pure arithmetic,
shared by the measurement (harness.measure.explain) and the verdict (harness.verdict.gate),
which works out from an execution's time how long its canary ran."""

from __future__ import annotations

UNIT_ROWS = 20_000  # generate_series rows of one unit
MAX_UNITS = 16


def units_beside(execution_ms: float) -> int:
    """How many units the canary after an execution of `execution_ms` runs: about as long
    as the execution, one at least, MAX_UNITS at most."""
    return min(max(round(execution_ms), 1), MAX_UNITS)
