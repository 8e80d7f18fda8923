"""Renderers: the self-contained HTML report (Jinja2, autoescaped; CSS, JS and SVG inline) and
the Markdown summary for a pull-request comment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.report.analysis import (
    Comparison,
    custom_generic_diff,
    explain_text,
    group_by_cause,
    histogram,
    inline_params,
    plan_tree,
    usage_matrix,
)
from harness.report.document import Document
from harness.verdict.catalogue import title as check_title

SUMMARY_MAX_LINES = 60
_OUTCOME_ORDER = {"error": 0, "fail": 1, "warn": 2, "pass": 3}


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
    # plan JSON goes into the page once per plan mode: compact, in PostgreSQL's key order
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":")}
    env.filters.update(ms=fmt_ms, int=fmt_int, bytes=fmt_bytes, ratio=fmt_ratio)
    env.globals.update(plan_tree=plan_tree, histogram=histogram, explain_text=explain_text,
                       inline_params=inline_params, custom_generic_diff=custom_generic_diff,
                       check_title=check_title, outcome_rank=_OUTCOME_ORDER)
    return env


def ordered_items(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Errors first, then failures, warnings and passes; by id within each."""
    return sorted(document["items"], key=lambda i: (_OUTCOME_ORDER[i["outcome"]], i["id"]))


def render_template(name: str, **context: Any) -> str:
    """Another page from the report's templates (the history), with the same filters."""
    return _environment().get_template(name).render(**context)


def render_html(document: Document, comparison: Comparison | None = None) -> str:
    return _environment().get_template("index.html.j2").render(
        doc=document,
        items=ordered_items(document),
        matrix=usage_matrix(document),
        comparison=comparison,
        causes=group_by_cause(document["items"]),
    )


# --- Markdown --------------------------------------------------------------------------------

def md_cell(text: Any) -> str:
    """One table cell: no line breaks, pipes escaped, and no HTML tag, because pull-request
    comments render inline HTML. Escaping `&` and `<` is enough for that; `->` and quotes in
    a reason stay readable in the raw Markdown."""
    flat = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;")
    return flat.replace("|", "\\|")


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


def counts_line(counts: Mapping[str, int]) -> str:
    """The counts as every front end says them: terminal, summary.md and the HTML title."""
    return (f"{counts['fail']} failed, {counts['error']} errors, {counts['warn']} warnings, "
            f"{counts['pass']} passed")


def _scale_text(run: Mapping[str, Any]) -> str:
    """What the data was: a loaded profile, or a database the harness did not load."""
    if not run.get("existing_db"):
        return f"Profile `{md_cell(run['profile'])}`"
    budgets = f"budgets of profile `{md_cell(run['profile'])}`" if run["profile"] else (
        "no profile budgets")
    rows = ", ".join(f"{table} {count:,}" for table, count in run["row_counts"].items())
    return f"Existing database, not loaded ({budgets}; rows: {rows or 'none'})"


def render_summary(document: Document, comparison: Comparison | None = None) -> str:
    """At most SUMMARY_MAX_LINES lines: counts, regressions first, then errors, failures and
    warnings, each list cut short with a count of what was left out."""
    run, counts = document["run"], document["counts"]
    total = len(document["items"])
    lines = [
        f"## plan-harness: {counts_line(counts)} ({total} items)",
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
    if run.get("missing"):
        lines += ["", f"Missing against the baseline (regressions): "
                      f"{md_cell(', '.join(run['missing'][:10]))}"
                      + (f" and {len(run['missing']) - 10} more" if len(run["missing"]) > 10
                         else "")]
    lines += _migration_lines(run.get("migration"))
    lines += _capacity_lines(run)
    lines += _cause_lines(document["items"])
    lines += _verdict_sections(ordered_items(document), SUMMARY_MAX_LINES - len(lines))
    if total and not counts["fail"] and not counts["error"] and not counts["warn"]:
        lines += ["", "Every item passed."]
    elif not total:
        lines += ["", run.get("note") or "No item ran."]
    return "\n".join(lines[:SUMMARY_MAX_LINES]) + "\n"


_SECTIONS = (("error", "Errors", "reason"), ("fail", "Failures", "first finding"),
             ("warn", "Warnings", "first finding"))
_WARNING_ROWS_KEPT = 5


def _verdict_sections(items: Sequence[Mapping[str, Any]], room: int) -> list[str]:
    """Errors and failures get the room, keeping a few warning rows; warnings get what is
    left."""
    warnings = sum(1 for i in items if i["outcome"] == "warn")
    reserve = _section_lines(warnings, min(warnings, _WARNING_ROWS_KEPT)) if warnings else 0
    lines: list[str] = []
    for outcome, title, column in _SECTIONS:
        group = [(i["id"], i["reason"]) for i in items if i["outcome"] == outcome]
        if not group:
            continue
        if outcome == "warn":
            reserve = 0
        rows = min(len(group), max(room - reserve - len(lines) - 7, 1))
        lines += ["", f"### {title}", ""]
        lines += _table(("item", column), group, rows, title.lower())
    return lines


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
    regressed = len(comparison.regressions) + len(comparison.only_before)
    lines = ["", f"Compared with revision `{md_cell(before['revision'])}` "
                 f"({md_cell(before['started_at'])}): {regressed} regressed, "
                 f"{len(comparison.improvements)} improved."]
    if comparison.broken_everywhere:
        lines.append(f"Broken at both revisions (the scenario or the project, not this "
                     f"change): {md_cell(', '.join(comparison.broken_everywhere[:8]))}.")
    # what changed in plans and buffers leads: it is what the change under review did
    lines += _plan_change_lines(comparison)
    rows = [(c.id, c.before_outcome, c.after_outcome, "; ".join(c.worse))
            for c in comparison.regressions]
    rows += [(item, "ran", "missing", "the item ran at base and is missing at head")
             for item in comparison.only_before]
    if rows:
        lines += ["", "### Regressions", ""]
        lines += _table(("item", "base", "head", "why"), rows, 8, "regressions")
    if comparison.benefits:
        benefits = [(b.endpoint, b.claimed_speedup or "-",
                     fmt_ratio(b.speedup) + (" (within noise)" if b.within_noise else ""),
                     fmt_ms(b.before_ms), fmt_ms(b.after_ms)) for b in comparison.benefits]
        lines += ["", "### Endpoints, claimed and measured", ""]
        lines += _table(("endpoint", "claimed", "measured", "base ms", "head ms"), benefits,
                        12, "endpoints")
    return lines


def _capacity_lines(run: Mapping[str, Any]) -> list[str]:
    """A capacity review's write cost and index growth, one line each."""
    lines = []
    cost = run.get("write_cost")
    if cost:
        lines += ["", f"Write cost: {cost['rows_per_second_without']:,.0f} rows/s into "
                      f"`{md_cell(cost['table'])}` with {cost['indexes_without']} indexes, "
                      f"{cost['rows_per_second_with']:,.0f} with {cost['indexes_with']}: "
                      f"{cost['slowdown_percent']}% slower."]
    placement = run.get("placement")
    if placement and placement["tables"]:
        busiest = max(placement["tables"], key=lambda t: t["busiest_share"])
        lines += ["", f"On a cluster of {placement['nodes']} nodes: the busiest holds "
                      f"{busiest['busiest_share'] * 100:.0f}% of `{md_cell(busiest['table'])}`'s "
                      f"bytes; its largest shard holds {busiest['largest_shard_rows']:,} of "
                      f"{busiest['rows']:,} rows."]
    growth = run.get("index_growth")
    if growth and growth["indexes"]:
        worst = max(growth["indexes"], key=lambda i: i["growth_over_rebuilt"])
        lines += ["", f"Index growth after {md_cell(growth.get('period') or 'the inserts')} "
                      f"({growth['rows_inserted']:,} rows into `{md_cell(growth['table'])}`): "
                      f"at most {(worst['growth_over_rebuilt'] - 1) * 100:.1f}% over a fresh "
                      f"build (`{md_cell(worst['index'])}`)."]
    return lines


_PLAN_CHANGES_SHOWN = 8
_CAUSES_SHOWN = 4


def _plan_change_lines(comparison: Comparison) -> list[str]:
    """One line per item whose plan changed, naming the node that changed in each mode;
    regressed items first."""
    by_item: dict[str, list[str]] = {}
    for md in comparison.plan_diffs:
        by_item.setdefault(md.item, []).append(f"`{md.mode}`: {md_cell(md.diff.headline)}")
    if not by_item:
        return []
    regressed = {c.id for c in comparison.regressions}
    order = sorted(by_item, key=lambda item: item not in regressed)
    buffers = {c.id: f"; shared buffers {c.before_buffers:,} -> {c.after_buffers:,}"
               for c in comparison.changes}
    lines = ["", f"### Plans that changed ({len(by_item)} items)", ""]
    lines += [f"- `{md_cell(item)}` {'; '.join(by_item[item])}{buffers.get(item, '')}"
              for item in order[:_PLAN_CHANGES_SHOWN]]
    if len(order) > _PLAN_CHANGES_SHOWN:
        lines.append(f"- ... and {len(order) - _PLAN_CHANGES_SHOWN} more (see the HTML report)")
    return lines


def _cause_lines(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Failures and errors grouped by cause: one dropped index is one line, not nine."""
    groups = group_by_cause(items)
    if not groups:
        return []
    lines = ["", "### By cause", ""]
    lines += [f"- {group.outcome}: {md_cell(group.cause)}: {len(group.items)} "
              f"item{'s' if len(group.items) != 1 else ''}" for group in groups[:_CAUSES_SHOWN]]
    if len(groups) > _CAUSES_SHOWN:
        lines.append(f"- ... and {len(groups) - _CAUSES_SHOWN} more causes (see the HTML report)")
    return lines
