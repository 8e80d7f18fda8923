"""Plan baselines: a small TOML file with, per item and plan mode, the plan's shape (node
types, relations, index names, in tree order, so join order too; never costs) and its
measured shared buffers, fastest run and p95, with the noise canary's fastest run beside them.
A later run is judged against it as against any reference (harness.verdict.checks): more shared
buffers beyond the tolerance fail whatever the plan, a changed plan is shown, and a slower
fastest run beyond the noise is a warning (another day, maybe another machine)."""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.files import write_atomically
from harness.measure.explain import ModeMeasurement
from harness.verdict.checks import ModeReference, Reference
from harness.version import __version__

FORMAT = 2
READS = (1, 2)  # format 1 had no index definitions and no budgets


@dataclass(frozen=True)
class Baseline:
    path: Path
    profile: str
    revision: str
    tables: frozenset[str]
    items: Mapping[str, Reference]  # item id -> its reference
    # index name -> its definition when the baseline was written (format 2)
    definitions: Mapping[str, str] = field(default_factory=dict)

    def missing(self, existing: Collection[str]) -> list[str]:
        """Items of the baseline that the project no longer has: a regression, not news."""
        return sorted(set(self.items) - set(existing))


def read_baseline(path: Path, profile: str, tables: frozenset[str]) -> Baseline:
    """Reads a baseline written by --plans-update-baseline for this profile and schema."""
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such baseline file (--plans-update-baseline writes "
                          "one)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable baseline: {exc}") from None
    head = document.get("baseline")
    if not isinstance(head, dict) or head.get("format") not in READS:
        raise ConfigError(f"{path}: baseline.format: not a plan-harness baseline of format "
                          f"{' or '.join(map(str, READS))} (rewrite it with "
                          "--plans-update-baseline)")
    if head.get("profile") != profile:
        raise ConfigError(f"{path}: baseline.profile: {head.get('profile')!r}, but this run is "
                          f"at profile {profile!r}")
    recorded = frozenset(head.get("tables", ()))
    if not recorded <= tables:
        missing = ", ".join(sorted(recorded - tables))
        raise ConfigError(f"{path}: baseline.tables: {missing} not in this schema "
                          "(a baseline of another schema?)")
    try:
        items = {item: Reference(f"baseline {path.name}", _modes(modes))
                 for item, modes in document.get("items", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: items: malformed entry ({exc})") from None
    return Baseline(path, profile, str(head.get("revision", "")), recorded, items,
                    dict(document.get("definitions", {})))


def _modes(modes: Mapping[str, Any]) -> dict[str, ModeReference]:
    return {mode: ModeReference(tuple(entry["shape"]), int(entry["shared_buffers"]),
                                entry.get("p95_ms"), entry.get("best_ms"),
                                entry.get("canary_ms"))
            for mode, entry in modes.items()}


def _two_figures(value: float) -> float:
    return float(f"{value:.2g}")


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# item id -> plan mode -> its budgets at the baseline's profile (shared buffers, p95 ms)
Budgets = Mapping[str, Mapping[str, tuple[int | None, float | None]]]


def write_baseline(path: Path, profile: str, revision: str, tables: Sequence[str],
                   items: Mapping[str, Sequence[ModeMeasurement]],
                   definitions: Mapping[str, str] | None = None,
                   budgets: Budgets | None = None) -> None:
    write_atomically(path, render_baseline(profile, revision, tables, items, definitions,
                                           budgets), "the baseline")


def render_baseline(profile: str, revision: str, tables: Sequence[str],
                    items: Mapping[str, Sequence[ModeMeasurement]],
                    definitions: Mapping[str, str] | None = None,
                    budgets: Budgets | None = None) -> str:
    """The file --plans-update-baseline writes: one table per item and mode, sorted, one
    value per line, so that a pull request's diff shows exactly which plan moved; the
    definitions of the indexes on its tables, and each mode's budgets beside its figures."""
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
    if definitions:
        lines += ["", "[definitions]"]
        lines += [f"{_toml_string(name)} = {_toml_string(definitions[name])}"
                  for name in sorted(definitions)]
    for item in sorted(items):
        for m in items[item]:
            lines += ["", f"[items.{_toml_string(item)}.{m.mode}]", "shape = ["]
            lines += [f"    {_toml_string(node)}," for node in m.plan.shape()]
            lines += ["]", f"shared_buffers = {m.plan.shared_buffers}"]
            # two significant figures: less churn in diffs
            for key, timing in (("best_ms", m.timing), ("p95_ms", m.timing),
                                ("canary_ms", m.canary)):
                if timing is not None:
                    value = timing.p95_ms if key == "p95_ms" else timing.min_ms
                    lines.append(f"{key} = {_two_figures(value)!r}")
            buffers, p95 = (budgets or {}).get(item, {}).get(m.mode, (None, None))
            if buffers is not None:
                lines.append(f"budget_shared_buffers = {buffers}")
            if p95 is not None:
                lines.append(f"budget_p95_ms = {p95!r}")
    return "\n".join(lines) + "\n"
