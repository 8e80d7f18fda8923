"""A real browser sees the report: headless Chromium (Debian's `chromium`, installed by the
test setup: tools/install-browser.sh) opens the comparison report of two real CSR runs, the
summary, the index usage matrix and the before/after table are visible, and a collapsed plan
opens on a mouse click. The screenshots are kept in the test's report directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import CsrRun
from harness.report import rerender
from harness.report.browser import Browser

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
    for section in ("#before-after table", "#index-usage table.matrix"):
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


def test_the_verdict_filter_hides_other_rows(page: tuple[Browser, Path]) -> None:
    browser, _ = page
    browser.click(".filters button[data-outcome='fail']")
    shown = browser.evaluate(
        "[...document.querySelectorAll('#items tbody tr')].filter(r => !r.hidden)"
        ".map(r => r.dataset.outcome)")
    assert set(shown) <= {"fail"}
    browser.click(".filters button[data-outcome='all']")
    assert browser.evaluate("[...document.querySelectorAll('#items tbody tr')]"
                            ".every(r => !r.hidden)")
