"""Exit codes, decided in one place: 0 every check passed, 1 a check failed or the head
regressed, 2 bad input or environment (or items that could not be measured while nothing
regressed), 130 interrupted."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.verdict.decision import Decision

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code(decision: Decision) -> int:
    """1 when something regressed or failed (a regression outranks a broken item); else 2
    when an item could not be measured (a scenario or project that is broken, not a plan
    that got worse); else 0."""
    if decision.regressed:
        return EXIT_FAILED
    return EXIT_USAGE if decision.broken else EXIT_OK
