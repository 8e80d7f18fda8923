"""Renderers: the self-contained HTML report (Jinja2, autoescaped; CSS, JS and SVG inline) and
the Markdown summary for a pull-request comment."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.report.analysis import (
    CauseGroup,
    Comparison,
    Moved,
    change_causes,
    custom_generic_diff,
    explain_text,
    group_by_cause,
    histogram,
    inline_params,
    moved_most,
    new_warnings,
    plan_tree,
    project_root,
    relative_paths,
    usage_matrix,
    warning_counts,
)
from harness.report.document import Document
from harness.verdict.catalogue import title as check_title

SUMMARY_MAX_LINES = 60
SUMMARY_TARGET_LINES = 30  # what one cause takes: the items' table is cut to fit
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


def page_causes(document: Document, comparison: Comparison | None) -> list[CauseGroup]:
    """What the HTML report leads with: between two runs, the regressions and improvements
    by cause, then the failures the base shares by theirs; in one run, failures and errors
    by cause."""
    if comparison is None:
        return group_by_cause(document["items"])
    regressed = {c.id for c in comparison.regressions}
    changes = change_causes(comparison, document)
    shared = group_by_cause(i for i in document["items"] if i["id"] not in regressed)
    return ([g for g in changes if g.outcome == "regressed"] + shared
            + [g for g in changes if g.outcome != "regressed"])


def render_html(document: Document, comparison: Comparison | None = None) -> str:
    root = project_root(document)
    return _environment().get_template("index.html.j2").render(
        doc=document,
        items=ordered_items(document),
        matrix=usage_matrix(document),
        comparison=comparison,
        causes=page_causes(document, comparison),
        relative=lambda text: relative_paths(text, root),
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
    """A Markdown table of at most `limit` rows, and a line counting those left out (`noun`
    singular: "item", "endpoint")."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        left = len(rows) - limit
        lines += ["", f"... and {left} more {noun}{'s' if left != 1 else ''} "
                      "(see the HTML report)"]
    return lines


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
    """At most SUMMARY_MAX_LINES lines, about thirty for one cause: the counts; one line per
    cause (a dropped index is one line for the items it broke); a short table of the items;
    warnings as one count line, listed only when new against the base. The full reasons
    are the HTML report's."""
    run, counts = document["run"], document["counts"]
    total = len(document["items"])
    root = project_root(document)
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
    tail = _benefit_lines(comparison) + _shared_failure_lines(document, comparison)
    tail += _warning_lines(document, comparison, root)
    if total and not counts["fail"] and not counts["error"] and not counts["warn"]:
        tail += ["", "Every item passed."]
    elif not total:
        tail += ["", run.get("note") or "No item ran."]
    tail += ["", "Every finding in full, with the plans and timings: the HTML report "
                 "(index.html)."]
    # the items' table takes what is left of about thirty lines
    lines += _cause_sections(document, comparison, root,
                             SUMMARY_TARGET_LINES - len(lines) - len(tail))
    lines += tail
    return "\n".join(lines[:SUMMARY_MAX_LINES]) + "\n"


_CAUSES_SHOWN = 6
_ROWS_SHOWN = 12
_ROWS_KEPT = 3  # however many causes, lines and warnings come before
_NEW_WARNINGS_SHOWN = 3


def _cause_sections(document: Document, comparison: Comparison | None, root: str,
                    room: int) -> list[str]:
    """One line per cause, then the items those causes broke in a short table: regressions
    between two runs (improvements as lines only), failures and errors in one run."""
    if comparison is not None:
        groups = change_causes(comparison, document)
        shown = [g for g in groups if g.outcome == "regressed"]
    else:
        groups = shown = group_by_cause(document["items"])
    if not groups:
        return []
    numbered = len(shown) > 1
    lines = [""]
    lines += [f"{n}. {md_cell(g.headline)}" if numbered and g in shown else
              f"- {md_cell(g.headline)}" for n, g in enumerate(groups[:_CAUSES_SHOWN], 1)]
    if len(groups) > _CAUSES_SHOWN:
        lines.append(f"- ... and {len(groups) - _CAUSES_SHOWN} more causes (the HTML report)")
    rows = _cause_rows(document, comparison, shown, numbered, root)
    if not rows:
        return lines
    header = ("item", *(("cause",) if numbered else ()),
              *(("base -> head", "plan at head", "shared buffers", "p50 ms")
                if comparison is not None else
                ("verdict", "plan", "shared buffers (budget)", "p95 ms (budget)")))
    fit = max(min(len(rows), _ROWS_SHOWN, room - len(lines) - 5), _ROWS_KEPT)
    return [*lines, "", *_table(header, rows, fit, "item")]


def _cause_rows(document: Document, comparison: Comparison | None,
                groups: Sequence[CauseGroup], numbered: bool,
                root: str) -> list[tuple[str, ...]]:
    items = {i["id"]: i for i in document["items"]}
    before = {i["id"]: i for i in comparison.before["items"]} if comparison else {}
    changes = {c.id: c for c in comparison.changes} if comparison else {}
    rows: list[tuple[str, ...]] = []
    for n, group in enumerate(groups, 1):
        cause = (str(n),) if numbered else ()
        for item_id in group.items:
            item = items.get(item_id)
            if comparison is None:
                assert item is not None
                rows.append((item_id, *cause, item["outcome"], _plan_cell(item, root),
                             _budgeted(item, "shared_buffers", "budget_shared_buffers",
                                       fmt_int),
                             _budgeted(item, "p95_ms", "budget_p95_ms", fmt_ms)))
                continue
            change = changes.get(item_id)
            buffers = moved_most(before.get(item_id), item, "shared_buffers", worse=True)
            p50 = moved_most(before.get(item_id), item, "p50_ms", worse=True)
            rows.append((
                item_id, *cause,
                f"{change.before_outcome} -> {change.after_outcome}" if change else
                "ran -> missing",
                _plan_cell(item, root) if item else "",
                _moved_cell(buffers, fmt_int), _moved_cell(p50, fmt_ms)))
    return rows


def _plan_cell(item: Mapping[str, Any], root: str) -> str:
    """What the item's plans read (one text when the plan modes agree), or why none ran."""
    if not item.get("modes"):
        return relative_paths(item.get("reason") or "no plan measured", root)
    accesses = {str(m["mode"]): str(m["access"]) for m in item["modes"]}
    if len(set(accesses.values())) == 1:
        return next(iter(accesses.values()))
    return "; ".join(f"{mode}: {access}" for mode, access in accesses.items())


def _moved_cell(moved: Moved | None, fmt: Callable[[float | None], str]) -> str:
    if moved is None:
        return ""
    if fmt(moved.before) == fmt(moved.after):
        return fmt(moved.after)
    return f"{fmt(moved.before)} -> {fmt(moved.after)} ({moved.mode}, {fmt_ratio(moved.ratio)})"


def _budgeted(item: Mapping[str, Any], key: str, budget: str,
              fmt: Callable[[float | None], str]) -> str:
    """The largest figure over the plan modes, beside its budget."""
    modes = [m for m in item.get("modes", ()) if m.get(key) is not None]
    if not modes:
        return ""
    top = max(modes, key=lambda m: m[key])
    return fmt(top[key]) + (f" ({fmt(top[budget])})" if top.get(budget) else "")


def _shared_failure_lines(document: Document, comparison: Comparison | None) -> list[str]:
    """Items that fail or error at head without having regressed: the base shares them."""
    if comparison is None:
        return []
    regressed = {c.id for c in comparison.regressions}
    broken = set(comparison.broken_everywhere)
    shared = [i["id"] for i in ordered_items(document) if i["outcome"] in ("fail", "error")
              and i["id"] not in regressed and i["id"] not in broken]
    if not shared:
        return []
    return ["", f"Failing at base too (not this change, not gating): {len(shared)} item"
                f"{'s' if len(shared) != 1 else ''}: {md_cell(', '.join(shared[:4]))}"
                + (f" and {len(shared) - 4} more" if len(shared) > 4 else "") + "."]


def _warning_lines(document: Document, comparison: Comparison | None, root: str) -> list[str]:
    """Warnings as one count line; listed only when new against the base, per item, check
    and plan mode."""
    counts = warning_counts(document["items"])
    if not counts:
        return []
    warned = document["counts"]["warn"]
    by_check = ", ".join(f"{check} {n}" for check, n in counts.items())
    line = f"Warnings: {warned} item{'s' if warned != 1 else ''} ({md_cell(by_check)})"
    if comparison is None:
        return ["", line + ", in the HTML report."]
    regressed = {c.id for c in comparison.regressions}
    # a regressed item's new warnings go with it, in the table above
    new = [w for w in new_warnings(comparison, document) if w.item not in regressed]
    if not new:
        return ["", line + "; none new against the base."]
    lines = ["", line + f"; {len(new)} new against the base:"]
    lines += [f"- `{md_cell(w.item)}` {md_cell(w.check)}"
              f"{f' ({w.mode})' if w.mode else ''}: "
              f"{md_cell(relative_paths(w.message, root))}"
              f"{' (regressed)' if w.regresses else ''}" for w in new[:_NEW_WARNINGS_SHOWN]]
    if len(new) > _NEW_WARNINGS_SHOWN:
        lines.append(f"- ... and {len(new) - _NEW_WARNINGS_SHOWN} more (the HTML report)")
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
    lines = [f"Compared with revision `{md_cell(before['revision'])}` "
             f"({md_cell(before['started_at'])}): {regressed} regressed, "
             f"{len(comparison.improvements)} improved."]
    if comparison.broken_everywhere:
        lines.append(f"Broken at both revisions (the scenario or the project, not this "
                     f"change): {md_cell(', '.join(comparison.broken_everywhere[:8]))}.")
    return lines


def _benefit_lines(comparison: Comparison | None) -> list[str]:
    """A capacity review's endpoints, claimed and measured speed-ups side by side."""
    if comparison is None or not comparison.benefits:
        return []
    benefits = [(b.endpoint, b.claimed_speedup or "-",
                 fmt_ratio(b.speedup) + (" (within noise)" if b.within_noise else ""),
                 fmt_ms(b.before_ms), fmt_ms(b.after_ms)) for b in comparison.benefits]
    header = ("endpoint", "claimed", "measured", "base ms", "head ms")
    return ["", "### Endpoints, claimed and measured", "",
            *_table(header, benefits, 12, "endpoint")]


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
