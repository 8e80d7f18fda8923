"""GitHub annotations without a run: the line of a scenario case, and the escaping of what
GitHub would misread (tests/csr/test_ci_outputs.py checks them on a real run)."""

from __future__ import annotations

from harness.project.scenarios import read_scenario
from harness.report.annotations import case_line, github_annotation
from support import REPO

SCENARIO = REPO / "scenarios" / "booking_rate_appointments.toml"


def test_case_line_is_the_line_of_its_cases_entry() -> None:
    scenario = read_scenario(SCENARIO)
    lines = SCENARIO.read_text().splitlines()
    found = [case_line(scenario, case) for case in scenario.cases]
    assert len(set(found)) == len(scenario.cases)
    assert all(lines[n - 1].strip() == "[[cases]]" for n in found)
    for case, line in zip(scenario.cases, found, strict=True):
        assert case.name in "\n".join(lines[line:line + 3])  # the entry that follows


def test_annotation_escapes_what_github_would_misread() -> None:
    line = github_annotation("scenarios/a,b.toml", 7, "x[a:b]", "50% of\nrows")
    assert line == "::error file=scenarios/a%2Cb.toml,line=7,title=x[a%3Ab]::50%25 of%0Arows"
