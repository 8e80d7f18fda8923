"""Gate: what every command means by worse. Outcomes are ordered (pass < warn < fail < error);
two measurements of one item are compared for shared-buffer growth beyond a tolerance and for
latency beyond the noise measured in the same run. Pure functions: no database, no I/O."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Outcome(IntEnum):
    """An item's verdict; a larger value is worse."""

    PASS = 0
    WARN = 1
    FAIL = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> Outcome:
        return cls[label.upper()]


OUTCOMES = tuple(o.label for o in Outcome)


class Severity(StrEnum):
    """A finding's weight, ordered info < warn < fail < error. Equal to its label, so a
    results.json read back compares alike."""

    INFO = "info"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def outcome(self) -> Outcome:
        """The item outcome a finding of this severity gives (information: none)."""
        return Outcome.PASS if self is Severity.INFO else Outcome.of(self.value)

    def __lt__(self, other: str) -> bool:
        return _SEVERITY_RANK[self] < _SEVERITY_RANK[Severity(other)]

    def __le__(self, other: str) -> bool:
        return self == other or self < other

    def __gt__(self, other: str) -> bool:
        return not self <= other

    def __ge__(self, other: str) -> bool:
        return not self < other


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}


@dataclass(frozen=True)
class Policy:
    """How much change between two runs of an item is a regression.

    Shared buffers are deterministic on one database, so a small tolerance suffices: growth
    counts when the later run reads more than `buffer_ratio` times the earlier one *and* at
    least `buffer_slack` buffers more (a handful of pages on a tiny plan is page layout, not a
    regression). Latency counts only when the fastest run moved by more than `latency_ratio`,
    or by more than the noise measured in the same run if that is larger, after dividing out
    the machine's own slowdown (the noise canary), and by at least `latency_floor_ms`."""

    buffer_ratio: float = 1.5
    buffer_slack: int = 32
    latency_ratio: float = 2.0
    latency_floor_ms: float = 1.0


def buffers_grew(before: int, after: int, policy: Policy) -> bool:
    return after > before * policy.buffer_ratio and after - before >= policy.buffer_slack


def buffers_shrank(before: int, after: int, policy: Policy) -> bool:
    return buffers_grew(after, before, policy)


@dataclass(frozen=True)
class Timed:
    """An item's fastest timed execution in one plan mode, and the noise canary's fastest
    beside it (None when the run measured none). The fastest run is the estimate a busy
    machine disturbs least: its delays only add, and one undisturbed run suffices, while a
    real regression slows every run, the fastest too."""

    ms: float
    canary_ms: float | None


@dataclass(frozen=True)
class Noise:
    """How much the noise canary's fastest runs spread over the runs compared: as a ratio
    (90th over 10th percentile) and in milliseconds (their difference). A steady machine
    gives about 1.1 and a fraction of a millisecond."""

    ratio: float = 1.0
    spread_ms: float = 0.0


def latency_ratio(before: Timed, after: Timed) -> float:
    """after / before, with the machine's own change between the two measurements (the
    canary's ratio) divided out, but only in the direction that makes the change smaller: a
    slower item on a slower machine, a faster item on a faster one. A canary that sped up
    while the item did not is not taken as the item slowing down; that would cry wolf."""
    ratio = after.ms / max(before.ms, 1e-6)
    if not (before.canary_ms and after.canary_ms):
        return ratio
    machine = after.canary_ms / before.canary_ms
    return ratio / max(machine, 1.0) if ratio >= 1 else ratio / min(machine, 1.0)


def latency_change(before: Timed, after: Timed, noise: Noise, policy: Policy) -> int:
    """+1 slower beyond the noise, -1 faster beyond it, 0 within it: the ratio must pass the
    tolerance or the canary's spread, whichever is larger, and the difference must pass the
    floor or the canary's spread in milliseconds."""
    if abs(after.ms - before.ms) < max(policy.latency_floor_ms, noise.spread_ms):
        return 0
    threshold = latency_threshold(noise, policy)
    ratio = latency_ratio(before, after)
    if ratio > threshold:
        return 1
    if ratio < 1 / threshold:
        return -1
    return 0


def latency_threshold(noise: Noise, policy: Policy) -> float:
    return max(policy.latency_ratio, noise.ratio)


def canary_noise(canaries: Iterable[float | None]) -> Noise:
    """The spread of the canary's fastest runs over the plan modes of one or two runs."""
    measured = sorted(c for c in canaries if c)
    if len(measured) < 2:
        return Noise()
    deciles = statistics.quantiles(measured, n=10, method="inclusive")
    return Noise(max(deciles[-1] / max(deciles[0], 1e-6), 1.0), deciles[-1] - deciles[0])


def normalized_samples(samples_ms: Sequence[float], canaries_ms: Sequence[float],
                       canary_base_ms: float | None) -> list[float]:
    """Each timed execution with the machine's slowdown at that moment divided out: its own
    noise canary (run right after it) against `canary_base_ms`. A burst that slows a few
    executions slows their canaries alike and is divided out of just those; a canary faster
    than the base never scales an execution up. Without a canary per execution, as they
    were."""
    if not canary_base_ms or len(canaries_ms) != len(samples_ms):
        return list(samples_ms)
    return [s / max(c / canary_base_ms, 1.0) for s, c in zip(samples_ms, canaries_ms,
                                                             strict=True)]
