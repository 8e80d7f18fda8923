"""Benchmark: how heavy the HTML report of a run is, and how fast Chromium has it ready.

    plan-harness run --plans-profile capacity --plans-report-dir /tmp/cap-report
    python benchmarks/report_page.py /tmp/cap-report/results.json [--loads 5] [--name NAME]
                                     [--compare BEFORE.json] [--screenshot docs/report.png]

Renders index.html from a saved run (as `plan-harness report` does; the time that takes is
recorded too), then opens it --loads times in headless Chromium. "Ready" is the page's load
event: everything is inline, so by then the page is laid out and its script has run. Two
clocks: the harness's, from Page.navigate to the load event, and the page's own navigation
timing (loadEventEnd). Medians go to results/report_page_<name>.json. A capacity review's
report compares with its run before the migration: give that run with --compare
(`plan-harness capacity-review` writes it to reports/before/results.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the headless-browser driver is a test tool, kept beside the tests, not in the package
sys.path.insert(0, str(ROOT / "tests"))

from browser import Browser  # noqa: E402
from harness.report.output import rerender  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--name", default=None, help="results file suffix (default: profile)")
    parser.add_argument("--compare", type=Path, default=None,
                        help="the run before, as the report of a capacity review has it")
    parser.add_argument("--screenshot", type=Path, default=None,
                        help="also save a screenshot of the top of the page here")
    args = parser.parse_args()
    out_dir = Path("/tmp") / f"plan-harness-report-page-{time.time_ns()}"
    started = time.perf_counter()
    paths = rerender(args.results, out_dir, args.compare)
    render_seconds = time.perf_counter() - started
    document = json.loads(args.results.read_text())
    wall, in_page = [], []
    with Browser(width=1400, height=1000) as browser:
        for _ in range(args.loads):
            wall.append(browser.open(paths.html))
            timing = browser.evaluate(
                "performance.getEntriesByType('navigation')[0].loadEventEnd")
            in_page.append(timing / 1000)
        if args.screenshot:
            browser.screenshot(args.screenshot)
        chromium = str(browser.call_browser("Browser.getVersion").get("product", ""))
    name = args.name or document["run"]["profile"]
    result = {
        "command": f"python benchmarks/report_page.py {args.results} --loads {args.loads}"
                   + (f" --name {args.name}" if args.name else "")
                   + (f" --compare {args.compare}" if args.compare else ""),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "profile": document["run"]["profile"],
        "run_started_at": document["run"]["started_at"],
        "items": len(document["items"]),
        "results_json_bytes": args.results.stat().st_size,
        "html_bytes": paths.html.stat().st_size,
        "html_limit_bytes": 5 * 1000 * 1000,
        "render_seconds": round(render_seconds, 3),
        "ready_seconds_wall": [round(s, 3) for s in wall],
        "ready_seconds_in_page": [round(s, 3) for s in in_page],
        "median_ready_seconds_wall": round(statistics.median(wall), 3),
        "median_ready_seconds_in_page": round(statistics.median(in_page), 3),
        "ready_limit_seconds": 2.0,
        "chromium": chromium,
    }
    target = ROOT / "benchmarks" / "results" / f"report_page_{name}.json"
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("html_bytes", "render_seconds",
                                             "median_ready_seconds_wall",
                                             "median_ready_seconds_in_page")}),
          f"written {target}")


if __name__ == "__main__":
    main()
