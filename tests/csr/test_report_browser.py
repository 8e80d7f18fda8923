"""A real browser sees the report: headless Chromium (Debian's `chromium`, installed by the
test setup: tools/install-browser.sh) opens the comparison report of two real CSR runs, the
summary, the index usage matrix and the before/after table are visible, a collapsed plan
opens on a mouse click, plan diffs render, copy buttons copy the SQL with its values, the
EXPLAIN text and the JSON, and the items table sorts and searches. The screenshots are kept
in the test's report directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import Browser
from harness.report.analysis import explain_text, inline_params
from harness.report.history import read_history, write_history
from harness.report.output import rerender
from support import CsrRun

pytestmark = pytest.mark.browser

# checkVisibility() is false inside a closed <details> (its content is content-visibility:
# hidden, yet keeps a layout box), for display: none and for visibility: hidden.
VISIBLE = """(selector => {
  const e = document.querySelector(selector);
  if (!e) return false;
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0
    && e.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true});
})"""


@pytest.fixture(scope="module")
def page(csr_head: CsrRun, csr_before: CsrRun,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Browser, Path]]:
    out = tmp_path_factory.mktemp("browser")
    paths = rerender(csr_head.report_dir / "results.json", out,
                     compare_with=csr_before.report_dir / "results.json")
    with Browser(width=1400, height=1000) as browser:
        # a page from a file may use the clipboard API once the browser allows it
        browser.call_browser("Browser.grantPermissions",
                             {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        browser.open(paths.html)
        yield browser, out


def visible(browser: Browser, selector: str) -> bool:
    return bool(browser.evaluate(f"{VISIBLE}({selector!r})"))


def test_summary_matrix_and_before_after_are_visible(page: tuple[Browser, Path]) -> None:
    browser, out = page
    assert visible(browser, "#summary .summary .badge.pass")
    passed = browser.evaluate("document.querySelector('#summary .badge.pass').textContent")
    assert passed.endswith("passed") and int(passed.split()[0]) > 0
    browser.screenshot(out / "summary.png")
    for section in ("#base-head table", "#index-usage table.matrix"):
        browser.evaluate(f"document.querySelector({section!r}).scrollIntoView()")
        assert visible(browser, section)
    cells = browser.evaluate("document.querySelectorAll('#index-usage .used').length")
    assert cells >= 10
    browser.screenshot(out / "matrix.png")
    assert (out / "summary.png").stat().st_size > 10_000


def test_a_collapsed_plan_opens_on_click(page: tuple[Browser, Path]) -> None:
    browser, out = page
    first = "#details details.item"
    assert browser.evaluate(f"document.querySelector({first!r}).open") is False
    assert not visible(browser, f"{first} .tree .node")
    browser.click(f"{first} > summary")
    assert browser.evaluate(f"document.querySelector({first!r}).open") is True
    assert visible(browser, f"{first} .tree .node")
    assert visible(browser, f"{first} .tree .node.costliest")
    assert visible(browser, f"{first} svg.timing")
    browser.screenshot(out / "plan.png")


def test_the_verdict_filter_hides_other_rows(page: tuple[Browser, Path],
                                            csr_head: CsrRun) -> None:
    browser, _ = page
    rows = "[...document.querySelectorAll('#items tbody tr')]"
    shown = f"{rows}.filter(r => !r.hidden).map(r => r.dataset.outcome)"
    every = browser.evaluate(f"{rows}.map(r => r.dataset.outcome)")
    # the page is the head's report: one row per plan mode of each item, by its verdict
    expected = {outcome: sum(len(i["modes"]) for i in csr_head.document["items"]
                             if i["outcome"] == outcome)
                for outcome in ("error", "fail", "warn", "pass")}
    assert {o: every.count(o) for o in expected} == expected
    assert sum(1 for n in expected.values() if n) >= 2  # a filter here hides some rows
    for outcome, rows_of_it in expected.items():
        browser.click(f".filters button[data-outcome='{outcome}']")
        assert browser.evaluate(shown) == [outcome] * rows_of_it, outcome
    browser.click(".filters button[data-outcome='all']")
    assert browser.evaluate(shown) == every


def test_plan_diffs_render_side_by_side(page: tuple[Browser, Path]) -> None:
    browser, out = page
    diffs = "#base-head details.diff"
    assert browser.evaluate(f"document.querySelectorAll({diffs!r}).length") >= 10
    browser.evaluate(f"document.querySelector({diffs!r}).scrollIntoView()")
    assert visible(browser, f"{diffs} table.plan-diff tr.changed")
    headline = browser.evaluate(f"document.querySelector('{diffs} > summary').textContent")
    assert " -> " in headline
    changed = browser.evaluate(
        f"[...document.querySelector('{diffs} tr.changed').cells].map(c => c.textContent.trim())")
    # node, rows, buffers and time on each side
    assert len(changed) == 8 and changed[0] and changed[4] and changed[0] != changed[4]
    assert changed[0] in headline and changed[4] in headline
    assert int(changed[2].replace(",", "")) > 0 and int(changed[6].replace(",", "")) > 0
    browser.screenshot(out / "diff.png")
    # custom against generic, in an item's details
    assert browser.evaluate("document.querySelectorAll('#details details.diff').length") >= 1


# every table, as [where, its right edge, the width it needs, the width it has]
TABLES = """[...document.querySelectorAll('table')].map(t => [
  (t.closest('section') || {}).id + ' ' + (t.className || t.id || 'table'),
  t.getBoundingClientRect().right, t.scrollWidth, t.parentElement.clientWidth])"""


def test_the_page_and_every_table_fit_a_1400_pixel_window(page: tuple[Browser, Path]) -> None:
    """The base/head table was 1,900 pixels wide: long item names, plans and reasons; the
    plans' and diffs' tables count too, so every <details> is opened to measure them."""
    browser, out = page
    assert browser.evaluate("window.innerWidth") == 1400
    closed = browser.evaluate("(() => { window.shut = [...document.querySelectorAll('details')]"
                              ".filter(d => !d.open); window.shut.forEach(d => d.open = true);"
                              " return window.shut.length; })()")
    try:
        assert closed > 10
        assert browser.evaluate("document.documentElement.scrollWidth") <= 1400
        tables = browser.evaluate(TABLES)
        assert len(tables) > 20
        wide = [t for t in tables if t[1] > 1400 or t[2] > t[3]]
        assert wide == [], wide
        browser.evaluate("document.querySelector('#base-head table.changes').scrollIntoView()")
        browser.screenshot(out / "base-head.png")
    finally:
        browser.evaluate("window.shut.forEach(d => d.open = false)")


def test_the_causes_lead_the_page(page: tuple[Browser, Path]) -> None:
    browser, _ = page
    top = "(s => { const e = document.querySelector(s); return e ? e.offsetTop : null; })"
    causes = browser.evaluate(f"{top}('#causes')")
    assert causes is not None
    assert causes < browser.evaluate(f"{top}('#base-head')")
    failing = browser.evaluate(f"{top}('#failing-items')")
    assert failing is None or causes < failing
    first = browser.evaluate("document.querySelector('.causes li b').textContent")
    assert " added: " in first and (" regressed" in first or " improved" in first)


def clipboard(browser: Browser) -> str:
    text: str = browser.evaluate("navigator.clipboard.readText()")
    return text


def copied(browser: Browser, button: str) -> str:
    """The button's label once its copy finished (the clipboard API answers later)."""
    label: str = browser.evaluate(
        f"(async () => {{ const b = document.querySelector({button!r});"
        " for (let i = 0; i < 50 && !b.textContent.startsWith('copied'); i++)"
        " await new Promise(r => setTimeout(r, 100)); return b.textContent; })()")
    return label


def item_of(browser: Browser, csr_head: CsrRun, selector: str) -> dict[str, Any]:
    id_ = browser.evaluate(f"document.querySelector({selector!r}).id")
    return next(i for i in csr_head.document["items"] if i["id"] == id_)


def test_copy_buttons_hold_the_sql_explain_and_json(page: tuple[Browser, Path],
                                                    csr_head: CsrRun) -> None:
    browser, _ = page
    details = "#details details.item:nth-of-type(2)"
    item = item_of(browser, csr_head, details)
    browser.click(f"{details} > summary")
    sql_button = f"{details} > .copies button.copy"
    browser.click(sql_button)
    wanted_sql = inline_params(item["sql"], item["params"])
    assert "%(" not in wanted_sql
    assert copied(browser, sql_button) == "copied SQL"
    assert clipboard(browser) == wanted_sql
    mode = item["modes"][0]
    explain, as_json = (f"{details} .copies[data-mode={mode['mode']!r}] button.copy"
                        f":nth-of-type({n})" for n in (1, 2))
    browser.click(explain)
    assert copied(browser, explain) == "copied EXPLAIN"
    assert clipboard(browser) == explain_text(mode["plan"])
    assert clipboard(browser).splitlines()[0].startswith(mode["plan"]["Plan"]["Node Type"])
    # without the clipboard API the text goes through a selected textarea
    browser.evaluate("navigator.clipboard.writeText = () => Promise.reject(new Error('no'))")
    browser.click(as_json)
    assert copied(browser, as_json) == "copied JSON"
    fallback = browser.evaluate("document.getElementById('copy-buffer').value")
    assert json.loads(fallback) == mode["plan"]


def test_the_items_table_sorts_by_a_column(page: tuple[Browser, Path]) -> None:
    browser, _ = page
    first_cells = ("[...document.querySelectorAll('#items tbody')]"
                   ".map(t => t.rows[0].cells[{}].dataset.sort)")
    browser.click("#items th:nth-child(6)")  # shared buffers
    ascending = [int(v) for v in browser.evaluate(first_cells.format(5)) if v]
    assert len(ascending) > 50 and ascending == sorted(ascending)
    browser.click("#items th:nth-child(6)")
    descending = [int(v) for v in browser.evaluate(first_cells.format(5)) if v]
    assert descending == sorted(ascending, reverse=True)
    browser.click("#items th:nth-child(2)")  # item, as text
    ids = browser.evaluate("[...document.querySelectorAll('#items tbody td.item a')]"
                           ".map(a => a.textContent)")
    assert ids == sorted(ids, key=str.lower)
    browser.click("#items th:nth-child(1)")  # verdict: errors, failures, warnings, passes
    verdicts = browser.evaluate("[...document.querySelectorAll('#items tbody')]"
                                ".map(t => t.dataset.outcome)")
    order = {"error": 0, "fail": 1, "warn": 2, "pass": 3}
    assert [order[v] for v in verdicts] == sorted(order[v] for v in verdicts)


def test_search_filters_items_together_with_the_verdict(page: tuple[Browser, Path]) -> None:
    browser, _ = page
    shown = ("[...document.querySelectorAll('#items tbody')].filter(t => !t.hidden)"
             ".map(t => [t.dataset.outcome, t.querySelector('td.item a').textContent])")

    def search(text: str) -> None:
        browser.evaluate(f"(() => {{ const box = document.getElementById('item-search');"
                         f" box.value = {json.dumps(text)};"
                         " box.dispatchEvent(new Event('input')); })()")

    search("largest-tenant")
    found = browser.evaluate(shown)
    assert found and all("largest-tenant" in id_ for _, id_ in found)
    total = browser.evaluate("document.querySelectorAll('#items tbody').length")
    assert len(found) < total
    assert browser.evaluate("document.getElementById('items-shown').textContent") == (
        f"{len(found)} of {total} items shown")
    browser.click(".filters button[data-outcome='warn']")
    both = browser.evaluate(shown)
    assert both and all(o == "warn" and "largest-tenant" in i for o, i in both)
    assert len(both) < len(found)
    search("no item is called this")
    assert browser.evaluate(shown) == []
    search("")
    browser.click(".filters button[data-outcome='all']")
    assert len(browser.evaluate(shown)) == total


def test_the_history_page_draws_every_item_over_the_runs(
        csr_head: CsrRun, csr_before: CsrRun, tmp_path: Path) -> None:
    for name, run in (("before", csr_before), ("head", csr_head)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(run.document))
    history = read_history(tmp_path)
    # oldest first, whichever fixture ran first
    runs = sorted((csr_before.document["run"], csr_head.document["run"]),
                  key=lambda run: run["started_at"])
    assert [r.revision for r in history.runs] == [run["revision"] for run in runs]
    path = write_history(history, tmp_path)
    rows = sum(len(i["modes"]) for i in csr_head.document["items"])
    with Browser(width=1400, height=1000) as browser:
        browser.open(path)
        assert browser.evaluate("document.querySelectorAll('#history tbody tr').length") == rows
        assert visible(browser, "#history svg.spark path")
        # two runs: each measured line has a point per run, with the run and value on hover
        title = browser.evaluate("document.querySelector('#history svg.spark circle title')"
                                 ".textContent")
        assert title.startswith(runs[0]["started_at"])
        assert browser.evaluate(
            "document.querySelector('#history svg.spark').querySelectorAll('circle').length"
        ) == 2
        browser.screenshot(tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 10_000
