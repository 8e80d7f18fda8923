"""Search: from the head's set, greedy moves measured one configuration at a time. Each round
tries adding every candidate (within the size and count budgets) and keeps the one that
lowers the geometric mean of shared buffers over the items and plan modes the most; then
tries dropping every index that enforces no constraint and drops the one that costs least,
while that stays within a percent. A configuration in which an item reads more than at
head beyond the gate's tolerance is refused, and that item is recorded as a constraint.
The planner's estimated pick of each round is recorded beside the measured one."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.advise.candidates import Candidate
from harness.advise.trials import Bench, Item, Outcome
from harness.verdict.gate import Policy, buffers_grew


@dataclass(frozen=True)
class Budgets:
    max_bytes: float  # every index of the tables the plans read
    max_indexes: int  # indexes that enforce no constraint
    fixed_bytes: int  # the constraint indexes' own, always there


@dataclass(frozen=True)
class Tried:
    """One configuration of a round: what was added or dropped, the planner's estimate and
    the measurement (geometric means), and the items it made worse than at head."""

    move: str  # "add" | "drop"
    index: str
    estimated: float
    measured: float
    worse: tuple[str, ...]


@dataclass
class Round:
    number: int
    before: float  # measured gmean before the round's move
    tried: list[Tried] = field(default_factory=list)
    chosen: str = ""  # "add ix" / "drop ix" / "" when nothing was kept
    estimated_pick: str = ""


@dataclass
class SearchResult:
    present: frozenset[str]
    outcome: Outcome
    rounds: list[Round]
    path: list[frozenset[str]]  # the sets kept, in order (the head's first)
    constraints: dict[str, str]  # item (mode) -> why it binds the search
    misled: list[str]  # estimated picks that measured as a regression


class Search:
    def __init__(self, bench: Bench, candidates: Mapping[str, Candidate],
                 sizes: Mapping[str, int], head: Outcome, budgets: Budgets, policy: Policy,
                 progress: Callable[[str], None], *, min_gain: float = 0.03,
                 drop_tolerance: float = 0.01) -> None:
        self.bench, self.candidates, self.sizes = bench, candidates, sizes
        self.head, self.budgets, self.policy = head, budgets, policy
        self.progress, self.min_gain, self.drop_tolerance = progress, min_gain, drop_tolerance
        self.constraints: dict[str, str] = {}
        self.misled: list[str] = []
        self.configurations = 0
        self._pinned: frozenset[str] = frozenset()
        self._started = time.monotonic()

    def size_of(self, present: frozenset[str]) -> int:
        return self.budgets.fixed_bytes + sum(self.sizes.get(n, 0) for n in present)

    def fits(self, present: frozenset[str]) -> bool:
        return (self.size_of(present) <= self.budgets.max_bytes
                and len(present) <= self.budgets.max_indexes)

    def worse_than_head(self, outcome: Outcome) -> list[str]:
        worse = []
        for key, reading in outcome.readings.items():
            before = self.head.readings.get(key)
            if before is not None and buffers_grew(before.buffers, reading.buffers, self.policy):
                item, mode = key
                worse.append(f"{item} {mode}: {before.buffers:,} -> {reading.buffers:,} shared "
                             f"buffers through {', '.join(reading.indexes) or 'no index'}")
        return worse

    def _items_of(self, name: str) -> list[Item]:
        table = self.candidates[name].table
        return [item for item in self.bench.items if table in item.tables]

    def _try(self, present: frozenset[str], name: str, base: Outcome, left: int) -> Outcome:
        outcome = self.bench.trial(present, self._items_of(name), base)
        self.configurations += 1
        elapsed = time.monotonic() - self._started
        per = elapsed / self.configurations
        self.progress(f"configuration {self.configurations}: {name}: gmean "
                      f"{outcome.buffers_gmean:,.1f} buffers ({outcome.analyzed} plans "
                      f"measured); about {per * left:.0f} s left in this round")
        return outcome

    def run(self, start: frozenset[str], start_outcome: Outcome,
            banned: frozenset[str] = frozenset(), pinned: frozenset[str] = frozenset(),
            rounds: int = 12) -> SearchResult:
        """From `start`: never adding a `banned` index, never dropping a `pinned` one."""
        self._pinned = pinned
        present, current = start, start_outcome
        path, log = [start], []
        for number in range(1, rounds + 1):
            round_ = Round(number, current.buffers_gmean)
            log.append(round_)
            if not self.fits(present):  # over a budget: drops first
                moved = self._drop(present, current, round_)
            else:
                moved = (self._add(present, current, banned, round_)
                         or self._drop(present, current, round_))
            if moved is None:
                break
            present, current = moved
            path.append(present)
        return SearchResult(present, current, log, path, self.constraints, self.misled)

    def _add(self, present: frozenset[str], current: Outcome, banned: frozenset[str],
             round_: Round) -> tuple[frozenset[str], Outcome] | None:
        choices = [n for n, c in self.candidates.items()
                   if n not in present and n not in banned and not c.constraint
                   and self.fits(present | {n})]
        results: list[tuple[str, Outcome, list[str]]] = []
        for left, name in enumerate(choices[::-1]):
            outcome = self._try(present | {name}, name, current, left)
            worse = self.worse_than_head(outcome)
            for line in worse:
                self.constraints.setdefault(line.split(":")[0], f"with {name} added: {line}")
            results.append((name, outcome, worse))
            round_.tried.append(Tried("add", name, outcome.cost_gmean, outcome.buffers_gmean,
                                      tuple(worse)))
        if not results:
            return None
        estimated = min(results, key=lambda r: r[1].cost_gmean)
        round_.estimated_pick = estimated[0]
        if estimated[2] or estimated[1].buffers_gmean > current.buffers_gmean:
            self.misled.append(
                f"round {round_.number}: the planner's estimate picks {estimated[0]} "
                f"(estimated gmean cost {estimated[1].cost_gmean:,.1f}, lowest), measured "
                f"{current.buffers_gmean:,.1f} -> {estimated[1].buffers_gmean:,.1f} gmean "
                f"buffers" + (f"; worse than head: {estimated[2][0]}" if estimated[2] else ""))
        good = [r for r in results if not r[2]
                and r[1].buffers_gmean <= current.buffers_gmean * (1 - self.min_gain)]
        if not good:
            return None
        name, outcome, _ = min(good, key=lambda r: r[1].buffers_gmean)
        round_.chosen = f"add {name}"
        self.progress(f"round {round_.number}: add {name}: gmean "
                      f"{current.buffers_gmean:,.1f} -> {outcome.buffers_gmean:,.1f} buffers")
        return present | {name}, outcome

    def _drop(self, present: frozenset[str], current: Outcome, round_: Round
              ) -> tuple[frozenset[str], Outcome] | None:
        forced = not self.fits(present)
        results: list[tuple[str, Outcome, list[str]]] = []
        names = sorted(present - self._pinned)
        for left, name in enumerate(names[::-1]):
            outcome = self._try(present - {name}, name, current, left)
            worse = self.worse_than_head(outcome)
            results.append((name, outcome, worse))
            round_.tried.append(Tried("drop", name, outcome.cost_gmean, outcome.buffers_gmean,
                                      tuple(worse)))
        limit = current.buffers_gmean * (1 + self.drop_tolerance)
        good = [r for r in results if forced or (not r[2] and r[1].buffers_gmean <= limit)]
        if not good:
            return None
        # the cheapest in reads; among equals the largest index goes first
        name, outcome, _ = min(good, key=lambda r: (round(r[1].buffers_gmean, 1),
                                                    -self.sizes.get(r[0], 0)))
        round_.chosen = f"drop {name}"
        self.progress(f"round {round_.number}: drop {name}: gmean "
                      f"{current.buffers_gmean:,.1f} -> {outcome.buffers_gmean:,.1f} buffers"
                      + (" (over budget)" if forced else ""))
        return present - {name}, outcome


def ranking(tried: Sequence[Tried]) -> list[tuple[Tried, int, int]]:
    """Each configuration of a round with its rank by the planner's estimate and by the
    measurement (1 = best)."""
    by_estimate = sorted(tried, key=lambda t: t.estimated)
    by_measure = sorted(tried, key=lambda t: t.measured)
    return [(t, by_estimate.index(t) + 1, by_measure.index(t) + 1) for t in tried]
