"""Report: results.json for machines and a self-contained index.html for people, rendered
from typed view models with Jinja2 (autoescaped; no HTML is built in Python)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness import __version__
from harness.explain import ModeMeasurement
from harness.session import CaseResult, RunFacts

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModeView:
    mode: str
    access: str
    indexes_used: list[str]
    shared_buffers: int
    p50_ms: float | None
    p95_ms: float | None
    runs: int
    plan_held: bool
    rows_returned: int
    nodes: list[str]
    plan: Mapping[str, Any]


@dataclass(frozen=True)
class FindingView:
    severity: str
    check: str
    mode: str | None
    message: str


@dataclass(frozen=True)
class ItemView:
    id: str
    scenario: str
    case: str
    file: str
    endpoint: str
    table: str
    sql: str
    params: dict[str, str]
    expected_indexes: list[str]
    outcome: str
    budget_p95_ms: float | None
    budget_shared_buffers: int | None
    modes: list[ModeView]
    findings: list[FindingView]
    plans_differ: bool


def _mode_view(m: ModeMeasurement, table: str) -> ModeView:
    return ModeView(
        mode=m.mode,
        access=m.plan.access_summary(table),
        indexes_used=sorted(m.plan.indexes_on(table)),
        shared_buffers=m.plan.shared_buffers,
        p50_ms=m.timing.median_ms if m.timing else None,
        p95_ms=m.timing.p95_ms if m.timing else None,
        runs=len(m.timing.samples_ms) if m.timing else 0,
        plan_held=m.plan_held,
        rows_returned=m.rows_returned,
        nodes=[n.label for n in m.plan.nodes()],
        plan=dict(m.plan.raw),
    )


def item_view(result: CaseResult, profile: str, base_dir: Path | None = None) -> ItemView:
    scenario = result.scenario
    path = scenario.path
    if base_dir is not None and path.is_relative_to(base_dir):
        path = path.relative_to(base_dir)
    return ItemView(
        id=f"{scenario.name}[{result.case.id}]",
        scenario=scenario.name,
        case=result.case.name,
        file=str(path),
        endpoint=scenario.endpoint,
        table=scenario.table,
        sql=scenario.sql,
        params={k: _text(v) for k, v in result.values.items()},
        expected_indexes=list(result.case.expect.indexes),
        outcome=result.verdict.outcome,
        budget_p95_ms=scenario.budget.p95_ms.get(profile),
        budget_shared_buffers=scenario.budget.shared_buffers.get(profile),
        modes=[_mode_view(m, scenario.table) for m in result.measurements],
        findings=[
            FindingView(f.severity, f.check, f.mode, f.message)
            for f in result.verdict.findings
            if f.severity != "info"
        ],
        plans_differ=any(f.check == "plans_differ" for f in result.verdict.findings),
    )


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def results_document(facts: RunFacts, items: Sequence[ItemView]) -> dict[str, Any]:
    counts = {
        outcome: sum(1 for i in items if i.outcome == outcome)
        for outcome in ("pass", "warn", "fail")
    }
    counts["plans_differ"] = sum(1 for i in items if i.plans_differ)
    return {
        "schema_version": SCHEMA_VERSION,
        "harness_version": __version__,
        "run": asdict(facts),
        "counts": counts,
        "items": [asdict(item) for item in items],
    }


def write_report(
    directory: Path, facts: RunFacts, results: Sequence[CaseResult], base_dir: Path | None = None
) -> tuple[Path, Path]:
    """Writes results.json and index.html into `directory`; returns their paths."""
    items = [item_view(r, facts.profile, base_dir) for r in results]
    document = results_document(facts, items)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "results.json"
    html_path = directory / "index.html"
    json_path.write_text(json.dumps(document, indent=1, default=str) + "\n")
    html_path.write_text(render_html(document))
    return json_path, html_path


def render_html(document: Mapping[str, Any]) -> str:
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    order = {"fail": 0, "warn": 1, "pass": 2}
    items = sorted(document["items"], key=lambda i: (order[i["outcome"]], i["id"]))
    return env.get_template("index.html.j2").render(doc=document, items=items)
