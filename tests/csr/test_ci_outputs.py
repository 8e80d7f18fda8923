"""What CI systems read from a run: GitHub annotations on the scenario file and case that
failed, JUnit properties with each item's figures, and compare's Markdown alone on stdout."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.project.scenarios import read_scenario
from harness.report.annotations import case_line
from support import BEFORE_INDEXES, REPO, run_cli

SCENARIO = REPO / "scenarios" / "booking_rate_appointments.toml"
SELECT = ["-k", "booking_rate_appointments", "--plans-runs", "3", "--plans-warmup", "1"]
# compare from before the index migration: rep_calls gets better in every case (the booking
# rates read more buffers for the largest tenant, a regression compare reports)
COMPARE_SELECT = ["-k", "rep_calls", "--plans-runs", "3", "--plans-warmup", "1"]


def pytest_plans(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "scenarios", "-m", "plans", "-q",
               "-p", "no:cacheprovider", "--plans-report-dir", str(tmp_path / "reports"),
               "--junitxml", str(tmp_path / "junit.xml"), *SELECT, *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900,
                          check=False)


def test_failed_items_are_annotated_on_their_case(tmp_path: Path) -> None:
    result = pytest_plans(tmp_path, "--plans-revision", BEFORE_INDEXES,
                          "--plans-annotations", "github")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    scenario = read_scenario(SCENARIO)
    expected = {f"line={case_line(scenario, case)},title={scenario.name}[{case.id}]"
                for case in scenario.cases}
    assert {a.split(",", 1)[1].split("::")[0] for a in annotations} == expected
    assert all(a.startswith("::error file=scenarios/booking_rate_appointments.toml,")
               for a in annotations)
    assert all("::index_missing: " in a for a in annotations)


def test_junit_carries_each_items_figures(tmp_path: Path) -> None:
    result = pytest_plans(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "::error" not in result.stdout  # annotations are off by default
    cases = list(ET.parse(tmp_path / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == 7
    for case in cases:
        properties = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        assert properties["verdict"] in ("pass", "warn")
        for mode in ("custom", "generic"):
            assert "ix_appointments" in properties[f"{mode}.expected_index"]
            assert properties[f"{mode}.used_index"]
            p50, p95 = float(properties[f"{mode}.p50_ms"]), float(properties[f"{mode}.p95_ms"])
            assert 0 < p50 <= p95
            assert int(properties[f"{mode}.shared_buffers"]) > 0


def test_compare_markdown_only_prints_the_summary_alone(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = run_cli("compare", "--base", BEFORE_INDEXES, "--markdown-only",
                     "--plans-annotations", "github", "--plans-report-dir", str(reports),
                     *COMPARE_SELECT, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == (reports / "summary.md").read_text()
    assert "PASS  head rep_calls" in result.stderr
