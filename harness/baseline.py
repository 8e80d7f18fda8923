"""Plan baselines: a small TOML file with, per item and plan mode, the plan's shape (node
types, relations, index names, in tree order, so join order too; never costs) and its
measured shared buffers and p95. A later run compares against it: a changed shape that
reads more buffers is a regression (fail), one that reads fewer an improvement (reported),
and the same shape reading far more buffers fails too."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.checks import FAIL, INFO, WARN, Finding
from harness.errors import ConfigError
from harness.explain import ModeMeasurement

FORMAT = 1
BUFFER_TOLERANCE = 1.25  # the buffer budgets' own margin: page layout varies a few % by build
BUFFER_SLACK = 8  # small plans: a handful of pages is noise, not a regression
P95_RATIO, P95_SLACK_MS = 3.0, 5.0  # a warning past this; never a failure


@dataclass(frozen=True)
class ModeBaseline:
    shape: tuple[str, ...]
    shared_buffers: int
    p95_ms: float | None


@dataclass(frozen=True)
class Baseline:
    path: Path
    profile: str
    revision: str
    tables: frozenset[str]
    items: Mapping[str, Mapping[str, ModeBaseline]]  # item id -> mode -> baseline


def load_baseline(path: Path, profile: str, tables: frozenset[str]) -> Baseline:
    """Reads a baseline written by --plans-update-baseline for this profile and schema."""
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such baseline file (--plans-update-baseline writes "
                          "one)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable baseline: {exc}") from None
    head = document.get("baseline")
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise ConfigError(f"{path}: baseline.format: not a plan-harness baseline of format "
                          f"{FORMAT} (rewrite it with --plans-update-baseline)")
    if head.get("profile") != profile:
        raise ConfigError(f"{path}: baseline.profile: {head.get('profile')!r}, but this run is "
                          f"at profile {profile!r}")
    recorded = frozenset(head.get("tables", ()))
    if not recorded <= tables:
        missing = ", ".join(sorted(recorded - tables))
        raise ConfigError(f"{path}: baseline.tables: {missing} not in this schema "
                          "(a baseline of another schema?)")
    try:
        items = {
            item: {mode: ModeBaseline(tuple(entry["shape"]), int(entry["shared_buffers"]),
                                      entry.get("p95_ms"))
                   for mode, entry in modes.items()}
            for item, modes in document.get("items", {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: items: malformed entry ({exc})") from None
    return Baseline(path, profile, str(head.get("revision", "")), recorded, items)


def compare_item(baseline: Baseline, item: str,
                 measurements: Sequence[ModeMeasurement]) -> list[Finding]:
    recorded = baseline.items.get(item)
    if recorded is None:
        return [Finding(INFO, "baseline", None, f"not in {baseline.path.name}: a new item")]
    findings = []
    for m in measurements:
        before = recorded.get(m.mode)
        if before is not None:
            findings += _compare_mode(m, before)
    return findings


def _compare_mode(m: ModeMeasurement, before: ModeBaseline) -> list[Finding]:
    now_buffers = m.plan.shared_buffers
    more = now_buffers > before.shared_buffers * BUFFER_TOLERANCE + BUFFER_SLACK
    fewer = now_buffers * BUFFER_TOLERANCE + BUFFER_SLACK < before.shared_buffers
    figures = f"{now_buffers:,} shared buffers, baseline {before.shared_buffers:,}"
    shape = m.plan.shape()
    if shape != before.shape:
        change = _shape_change(before.shape, shape)
        if more:
            return [Finding(FAIL, "baseline_shape", m.mode,
                            f"{m.mode} plan regressed: {change}; {figures}")]
        if fewer:
            return [Finding(INFO, "baseline_shape", m.mode,
                            f"{m.mode} plan improved: {change}; {figures}")]
        return [Finding(WARN, "baseline_shape", m.mode,
                        f"{m.mode} plan changed: {change}; {figures}")]
    slower = _slower(m, before)
    if more:
        return [Finding(FAIL, "baseline_buffers", m.mode,
                        f"{m.mode} plan has the baseline's shape but reads more: {figures} "
                        f"(tolerance {BUFFER_TOLERANCE}x)")]
    if fewer:
        return [Finding(INFO, "baseline_buffers", m.mode, f"{m.mode} plan reads less: {figures}")]
    return slower


def _slower(m: ModeMeasurement, before: ModeBaseline) -> list[Finding]:
    """Latency against the baseline is a warning, never a failure: on a shared machine p95
    moves with the neighbours; shared buffers are the deterministic gate."""
    if m.timing is None or before.p95_ms is None:
        return []
    if m.timing.p95_ms <= before.p95_ms * P95_RATIO + P95_SLACK_MS:
        return []
    return [Finding(WARN, "baseline_p95", m.mode,
                    f"{m.mode} plan p95 {m.timing.p95_ms:.2f} ms, baseline {before.p95_ms} ms "
                    f"(over {P95_RATIO:g}x + {P95_SLACK_MS:g} ms)")]


def _shape_change(before: Sequence[str], after: Sequence[str]) -> str:
    gone = [n for n in before if n not in after]
    new = [n for n in after if n not in before]
    if not gone and not new:
        return "same nodes in another order"
    parts = []
    if gone:
        parts.append("no longer " + "; ".join(gone))
    if new:
        parts.append("now " + "; ".join(new))
    return ", ".join(parts)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_baseline(profile: str, revision: str, tables: Sequence[str],
                    items: Mapping[str, Sequence[ModeMeasurement]]) -> str:
    """The file --plans-update-baseline writes: one table per item and mode, sorted, one
    value per line, so that a pull request's diff shows exactly which plan moved."""
    lines = [
        "# plan-harness baseline: plan shapes and measured figures per item and plan mode.",
        "# Written by --plans-update-baseline, read by --plans-baseline. Costs are not kept:",
        "# a shape is the plan's nodes in tree order (types, relations, indexes).",
        "[baseline]",
        f"format = {FORMAT}",
        f"harness = {_toml_string(__version__)}",
        f"profile = {_toml_string(profile)}",
        f"revision = {_toml_string(revision)}",
        "tables = [" + ", ".join(_toml_string(t) for t in sorted(tables)) + "]",
    ]
    for item in sorted(items):
        for m in items[item]:
            lines += ["", f"[items.{_toml_string(item)}.{m.mode}]", "shape = ["]
            lines += [f"    {_toml_string(node)}," for node in m.plan.shape()]
            lines += ["]", f"shared_buffers = {m.plan.shared_buffers}"]
            if m.timing is not None:  # two significant figures: less churn in diffs
                lines.append(f"p95_ms = {float(f'{m.timing.p95_ms:.2g}')!r}")
    return "\n".join(lines) + "\n"
