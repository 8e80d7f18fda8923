"""Renderers: the self-contained HTML report (Jinja2, autoescaped; CSS, JS and SVG inline) and
the Markdown summary for a pull-request comment."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.report.analysis import Comparison, histogram, plan_tree, usage_matrix
from harness.report.document import Document

SUMMARY_MAX_LINES = 60
_OUTCOME_ORDER = {"fail": 0, "warn": 1, "pass": 2}


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def fmt_int(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value):,}"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ms=fmt_ms, int=fmt_int, bytes=fmt_bytes, ratio=fmt_ratio)
    env.globals.update(plan_tree=plan_tree, histogram=histogram)
    return env


def ordered_items(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Failures first, then warnings, then passes; by id within each."""
    return sorted(document["items"], key=lambda i: (_OUTCOME_ORDER[i["outcome"]], i["id"]))


def render_html(document: Document, comparison: Comparison | None = None) -> str:
    return _environment().get_template("index.html.j2").render(
        doc=document,
        items=ordered_items(document),
        matrix=usage_matrix(document),
        comparison=comparison,
    )


# --- Markdown --------------------------------------------------------------------------------

def md_cell(text: Any) -> str:
    """One table cell: no line breaks, pipes escaped, and HTML escaped because pull-request
    comments render inline HTML."""
    return html.escape(" ".join(str(text).split())).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], limit: int,
           noun: str) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines += ["", f"... and {len(rows) - limit} more {noun} (see the HTML report)"]
    return lines


def _section_lines(rows: int, shown: int) -> int:
    """Lines a _table section takes: blank, title, blank, header, rule, rows, and two more
    when rows are left out."""
    return 5 + shown + (2 if rows > shown else 0)


def _first_failure(item: Mapping[str, Any]) -> tuple[str, str]:
    for finding in item["findings"]:
        if finding["severity"] == item["outcome"]:
            return finding["check"], finding["message"]
    return "", ""


def _scale_text(run: Mapping[str, Any]) -> str:
    """What the data was: a seeded profile, or a database the harness did not seed."""
    if not run.get("existing_db"):
        return f"Profile `{md_cell(run['profile'])}`"
    budgets = f"budgets of profile `{md_cell(run['profile'])}`" if run["profile"] else (
        "no profile budgets")
    rows = ", ".join(f"{table} {count:,}" for table, count in run["row_counts"].items())
    return f"Existing database, not seeded ({budgets}; rows: {rows or 'none'})"


def render_summary(document: Document, comparison: Comparison | None = None) -> str:
    """At most SUMMARY_MAX_LINES lines: counts, regressions first, then failures and
    warnings, each list cut short with a count of what was left out."""
    run, counts = document["run"], document["counts"]
    total = len(document["items"])
    lines = [
        f"## plan-harness: {counts['fail']} failed, {counts['warn']} warnings, "
        f"{counts['pass']} passed ({total} items)",
        "",
        f"{_scale_text(run)}, revision `{md_cell(run['revision'])}`"
        f"{' (head)' if run['revision'] == run.get('head') else ''}, "
        f"PostgreSQL {md_cell(run.get('server_version', '?'))}, {md_cell(run['started_at'])}.",
    ]
    if run.get("statistics"):
        lines.append(f"Projected: planned with the statistics of "
                     f"{md_cell(run['statistics']['source'] or run['statistics']['file'])}; "
                     "plan checks only, latency and buffers not measured"
                     + ("; a preview: not verified against the real database, so failures "
                        "are warnings." if run["statistics"]["preview"] == "yes" else "."))
    if comparison is not None:
        lines += _comparison_lines(comparison)
    lines += _migration_lines(run.get("migration"))
    failures = [i for i in ordered_items(document) if i["outcome"] == "fail"]
    warnings = [i for i in ordered_items(document) if i["outcome"] == "warn"]
    # failures get the room, keeping five warning rows; warnings get what is left
    room = SUMMARY_MAX_LINES - len(lines)
    reserved = _section_lines(len(warnings), min(len(warnings), 5)) if warnings else 0
    fail_rows = min(len(failures), max(room - reserved - 7, 1))
    used = _section_lines(len(failures), fail_rows) if failures else 0
    warn_rows = min(len(warnings), max(room - used - 7, 1))
    for title, chosen, limit in (("Failures", failures, fail_rows),
                                 ("Warnings", warnings, warn_rows)):
        if chosen:
            rows = [(i["id"], *_first_failure(i)) for i in chosen]
            lines += ["", f"### {title}", ""]
            lines += _table(("item", "check", "first finding"), rows, limit, title.lower())
    if not failures and not warnings:
        lines += ["", "Every item passed."]
    return "\n".join(lines[:SUMMARY_MAX_LINES]) + "\n"


def _migration_lines(migration: Mapping[str, Any] | None) -> list[str]:
    if not migration:
        return []
    longest = max((s["max_write_wait_ms"] for s in migration["statements"]), default=0.0)
    verdict = "failed" if migration["failures"] else "passed"
    lines = ["", f"Migration check {verdict}: {md_cell(migration['from_revision'])} -> "
                 f"{md_cell(migration['to_revision'])} under {migration['writes']:,} inserts; "
                 f"longest lock wait of a write {fmt_ms(longest)} ms (budget "
                 f"{migration['max_write_wait_budget_ms']:,.0f} ms)."]
    lines += [f"- {md_cell(line)}" for line in migration["failures"][:6]]
    return lines


def _comparison_lines(comparison: Comparison) -> list[str]:
    before = comparison.before["run"]
    lines = ["", f"Compared with revision `{md_cell(before['revision'])}` "
                 f"({md_cell(before['started_at'])}): {len(comparison.regressions)} regressed, "
                 f"{len(comparison.improvements)} improved."]
    if comparison.regressions:
        regressed = [(c.id, c.before_outcome, c.after_outcome, c.after_access)
                     for c in comparison.regressions]
        lines += ["", "### Regressions", ""]
        lines += _table(("item", "before", "after", "plan now"), regressed, 8, "regressions")
    if comparison.benefits:
        rows = [(b.endpoint, b.claimed_speedup or "-", fmt_ratio(b.speedup),
                 fmt_ms(b.before_ms), fmt_ms(b.after_ms)) for b in comparison.benefits]
        lines += ["", "### Endpoints, before and after", ""]
        lines += _table(("endpoint", "claimed", "measured", "before ms", "after ms"), rows, 12,
                        "endpoints")
    return lines
