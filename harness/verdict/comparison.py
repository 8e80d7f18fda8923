"""Comparison: which items of two results documents regressed or improved, judged once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.verdict.catalogue import CHECKS
from harness.verdict.gate import Outcome, Policy, Severity, buffers_grew, buffers_shrank


@dataclass(frozen=True)
class ItemChange:
    """One item in two runs, and why it got worse or better (empty when neither)."""

    id: str
    endpoint: str
    before_outcome: str
    after_outcome: str
    before_access: str
    after_access: str
    before_p50_ms: float | None
    after_p50_ms: float | None
    before_buffers: int
    after_buffers: int
    worse: tuple[str, ...] = ()
    better: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        return bool(self.worse)

    @property
    def improved(self) -> bool:
        return bool(self.better) and not self.worse

    @property
    def plan_changed(self) -> bool:
        return self.before_access != self.after_access

    @property
    def speedup(self) -> float | None:
        if self.before_p50_ms is None or not self.after_p50_ms:
            return None
        return self.before_p50_ms / self.after_p50_ms


@dataclass(frozen=True)
class RunComparison:
    """Two runs item by item, `before` the earlier: the gate's judgement of the later one."""

    before: Mapping[str, Any]
    changes: list[ItemChange]
    only_before: list[str]  # ran at base, missing at head: each a regression
    only_after: list[str]

    @property
    def regressions(self) -> list[ItemChange]:
        return [c for c in self.changes if c.regressed]

    @property
    def improvements(self) -> list[ItemChange]:
        return [c for c in self.changes if c.improved]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.only_before)

    @property
    def broken_everywhere(self) -> list[str]:
        """Items that error in both runs: the scenario or the project is broken, not the
        change under review."""
        return [c.id for c in self.changes
                if c.before_outcome == "error" and c.after_outcome == "error"]


def judge_runs(after: Mapping[str, Any], before: Mapping[str, Any]) -> RunComparison:
    """Every item of `after` that ran in `before` too, judged with `after`'s policy."""
    before_items = {i["id"]: i for i in before["items"]}
    after_items = {i["id"]: i for i in after["items"]}
    policy = Policy(**after["run"].get("policy") or {})
    return RunComparison(
        before=before,
        changes=[item_change(before_items[item_id], item, policy)
                 for item_id, item in after_items.items() if item_id in before_items],
        only_before=sorted(set(before_items) - set(after_items)),
        only_after=sorted(set(after_items) - set(before_items)),
    )


def item_change(old: Mapping[str, Any], new: Mapping[str, Any], policy: Policy) -> ItemChange:
    """An item that ran in both runs. Worse on: an error or a failing check at head that
    the base did not have, a plan mode reading more shared buffers beyond the tolerance
    (whatever index it uses), the head run finding it slower than the base beyond the noise,
    and a new warning of a check that says the plan got worse (a sequential scan, a
    forbidden node, an unchecked table, an expected access lost). Never on the other
    warnings (a stale expectation, a rename, a misestimate, plans that differ): shown, not
    gating. Better on the reverse, and on a stale expectation (a better plan than the
    expected one)."""
    first_old, first_new = _first_mode(old), _first_mode(new)
    worse, better = _outcome_moves(old, new)
    before_modes = {m["mode"]: m for m in old["modes"]}
    for mode in new["modes"]:
        then = before_modes.get(mode["mode"])
        if then is not None:
            _mode_moves(then, mode, policy, worse, better)
    _judged_at_head(new, worse, better)
    worse += _new_failures(old, new)
    worse += _new_warnings(old, new)
    return ItemChange(
        id=new["id"], endpoint=new["endpoint"],
        before_outcome=old["outcome"], after_outcome=new["outcome"],
        before_access=first_old.get("access", ""), after_access=first_new.get("access", ""),
        before_p50_ms=first_old.get("p50_ms"), after_p50_ms=first_new.get("p50_ms"),
        before_buffers=first_old.get("shared_buffers", 0),
        after_buffers=first_new.get("shared_buffers", 0),
        worse=tuple(worse), better=tuple(better),
    )


def _first_mode(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The mode compared across runs: custom when measured (what most drivers get first)."""
    modes = item["modes"]
    return next((m for m in modes if m["mode"] == "custom"), modes[0]) if modes else {}


def _outcome_moves(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """A move into fail or error is worse; out of them, better. pass <-> warn is neither:
    which warnings count is _new_warnings' to say."""
    before, after = Outcome.of(old["outcome"]), Outcome.of(new["outcome"])
    move = f"{before.label} -> {after.label}"
    if after > before and after >= Outcome.FAIL:
        return [f"{move}: {new.get('reason') or 'see the report'}"], []
    if after < before and before >= Outcome.FAIL:
        return [], [move]
    return [], []


def _mode_moves(then: Mapping[str, Any], now: Mapping[str, Any], policy: Policy,
                worse: list[str], better: list[str]) -> None:
    mode = now["mode"]
    old_buffers, new_buffers = then["shared_buffers"], now["shared_buffers"]
    measured = now.get("actual_rows") is not None and then.get("actual_rows") is not None
    figures = f"{mode}: {old_buffers:,} -> {new_buffers:,} shared buffers"
    if measured and buffers_grew(old_buffers, new_buffers, policy):
        worse.append(f"{figures} (beyond {policy.buffer_ratio:g}x and +{policy.buffer_slack})")
    elif measured and buffers_shrank(old_buffers, new_buffers, policy):
        better.append(figures)


def _judged_at_head(new: Mapping[str, Any], worse: list[str], better: list[str]) -> None:
    """What the head run judged against the base in the same process (latency, with the
    noise canary, measured again when it looked slower). Two runs of different processes,
    as `plan-harness report --compare` gets them, carry no such findings: their timings are
    of different moments on a possibly shared machine."""
    for finding in new["findings"]:
        check = CHECKS.get(finding["check"])
        if check is None:
            continue
        if check.regresses and finding["severity"] == Severity.FAIL:
            worse.append(finding["message"])
        elif check.improves:
            better.append(finding["message"])


def _new_failures(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """A plan mode that fails a check at head it did not fail at base (it left its accepted
    index), when the outcome alone does not show it (the item failed at base for another
    reason)."""
    if Outcome.of(new["outcome"]) > Outcome.of(old["outcome"]):
        return []
    before = {(f["mode"], f["check"]) for f in old["findings"] if f["severity"] == Severity.FAIL}
    return [f["message"] for f in new["findings"]
            if f["severity"] == Severity.FAIL and _counts_when_new(f["check"])
            and (f["mode"], f["check"]) not in before]


def _new_warnings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Warnings at head, per check and mode, that the base did not have, of the checks that
    say a plan got worse."""
    before = {(f["mode"], f["check"]) for f in old["findings"]
              if f["severity"] in (Severity.WARN, Severity.FAIL)}
    return [f"new warning: {f['message']}" for f in new["findings"]
            if f["severity"] == Severity.WARN and (f["mode"], f["check"]) not in before
            and _warning_counts_when_new(f["check"])]


def _warning_counts_when_new(name: str) -> bool:
    check = CHECKS.get(name)
    return check is not None and check.new_warning_regresses


def _counts_when_new(name: str) -> bool:
    check = CHECKS.get(name)
    return check is not None and check.new_failure_regresses
