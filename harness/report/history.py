"""History: shared buffers and p50 of every item over a series of saved runs, so a capacity
review sees drift that no single comparison of two runs shows. Reads every results.json
under a directory, orders the runs by when they started, and draws one inline SVG line per
item, plan mode and measure (no script, no network)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ReportError
from harness.files import write_atomically
from harness.report.document import Document, read_results
from harness.report.render import render_template

_WIDTH, _HEIGHT, _PAD = 180.0, 30.0, 3.0


@dataclass(frozen=True)
class RunLabel:
    started_at: str
    revision: str
    profile: str
    path: str


@dataclass(frozen=True)
class Sparkline:
    values: list[float | None]  # one per run, None where the item or mode was not measured
    path: str  # SVG path data
    points: list[tuple[float, float, int]]  # x, y, run index: a dot with its value per run

    @property
    def measured(self) -> list[float]:
        return [v for v in self.values if v is not None]

    @property
    def drift(self) -> float | None:
        """Last measured over first measured."""
        measured = self.measured
        if len(measured) < 2 or not measured[0]:
            return None
        return measured[-1] / measured[0]


@dataclass(frozen=True)
class ItemHistory:
    item: str
    mode: str
    buffers: Sparkline
    p50_ms: Sparkline


@dataclass(frozen=True)
class History:
    runs: list[RunLabel]
    rows: list[ItemHistory]
    # results files left out, each as one line naming the file and why (truncated, say)
    skipped: list[str] = field(default_factory=list)

    @property
    def profiles(self) -> list[str]:
        return sorted({r.profile for r in self.runs})


def read_history(directory: Path) -> History:
    """Every results.json under `directory`, oldest run first; one line naming the file
    and field for anything unreadable."""
    if not directory.is_dir():
        raise ReportError(f"{directory}: not a directory (--history takes a directory of "
                          "saved results.json files)")
    paths = sorted(directory.rglob("results.json"))
    if not paths:
        raise ReportError(f"{directory}: no results.json under it")
    read, skipped = [], []
    for path in paths:
        # one unreadable run (a truncated file, a copy that failed) leaves the others drawn
        try:
            document = read_results(path)
            read.append((_started(path, document), path, document))
        except ReportError as exc:
            skipped.append(str(exc))
    if not read:
        raise ReportError(f"{directory}: no readable results.json under it ({skipped[0]})")
    runs = sorted(read, key=lambda run: run[0])
    documents = [d for _, _, d in runs]
    labels = [RunLabel(d["run"]["started_at"], d["run"]["revision"], d["run"]["profile"],
                       str(p.relative_to(directory))) for _, p, d in runs]
    return History(labels, _rows(documents), skipped)


def _started(path: Path, document: Document) -> dt.datetime:
    value = document["run"].get("started_at")
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ReportError(f"{path}: run.started_at: {value!r} is not an ISO 8601 time") \
            from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _rows(documents: Sequence[Document]) -> list[ItemHistory]:
    keys = sorted({(i["id"], m["mode"]) for d in documents for i in d["items"]
                   for m in i["modes"]})
    modes = [{(i["id"], m["mode"]): m for i in d["items"] for m in i["modes"]}
             for d in documents]
    rows = []
    for key in keys:
        series = [run.get(key) for run in modes]
        rows.append(ItemHistory(
            key[0], key[1],
            sparkline([_measured(m, "shared_buffers") for m in series]),
            sparkline([_measured(m, "p50_ms") for m in series])))
    return rows


def _measured(mode: dict[str, Any] | None, key: str) -> float | None:
    """A figure the run measured: a plan only planned (projected, or a write never run) has
    no actual rows, and its zero buffers are not a measurement."""
    if mode is None or mode.get("actual_rows") is None:
        return None
    value = mode.get(key)
    return None if value is None else float(value)


def sparkline(values: list[float | None]) -> Sparkline:
    measured = [v for v in values if v is not None]
    if not measured:
        return Sparkline(values, "", [])
    low, high = min(measured), max(measured)
    step = (_WIDTH - 2 * _PAD) / max(len(values) - 1, 1)

    def height(value: float) -> float:
        if high == low:
            return _HEIGHT / 2  # a steady figure: a level line in the middle
        return _HEIGHT - _PAD - (value - low) / (high - low) * (_HEIGHT - 2 * _PAD)

    points = [(round(_PAD + n * step, 1), round(height(v), 1), n)
              for n, v in enumerate(values) if v is not None]
    # a run that did not measure the item breaks the line instead of bridging it
    path, previous = [], None
    for x, y, n in points:
        path.append(f"{'L' if previous == n - 1 else 'M'}{x},{y}")
        previous = n
    return Sparkline(values, " ".join(path), points)


def write_history(history: History, out: Path) -> Path:
    path = out / "history.html"
    html = render_template("history.html.j2", history=history, width=_WIDTH, height=_HEIGHT)
    write_atomically(path, html, "the history", ReportError)
    return path
