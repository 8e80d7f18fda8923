"""Annotations: a failed item as a CI system's inline message on the scenario file, at the line
of the case's `[[cases]]` entry (--plans-annotations github: GitHub Actions' `::error`
workflow command, which the pull request shows beside the file)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from harness.project.scenarios import Case, Scenario
from harness.verdict.checks import FAIL
from harness.verdict.results import CaseResult

ANNOTATION_MODES = ("off", "github")
_CASES_HEADER = re.compile(r"^\s*\[\[\s*cases\s*\]\]")


def case_line(scenario: Scenario, case: Case) -> int:
    """The line of the case's `[[cases]]` header in its scenario file (1 when the cases are
    written another way, e.g. as an inline array)."""
    index = scenario.cases.index(case)
    headers = [number for number, line in
               enumerate(scenario.path.read_text().splitlines(), start=1)
               if _CASES_HEADER.match(line)]
    return headers[index] if index < len(headers) else 1


def github_annotation(file: str, line: int, title: str, message: str) -> str:
    """An `::error` workflow command; its properties and message escaped as GitHub needs."""
    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    return f"::error file={prop(file)},line={line},title={prop(title)}::{data(message)}"


def failure_annotations(results: Iterable[CaseResult], root: Path, mode: str) -> list[str]:
    """One annotation per failed item, for `mode` (none when it is off)."""
    if mode != "github":
        return []
    lines = []
    for result in results:
        findings = result.verdict.of(FAIL)
        if not findings:
            continue
        scenario, case = result.scenario, result.case
        path = scenario.path.resolve()
        shown = path.relative_to(root.resolve()) if path.is_relative_to(root.resolve()) else path
        message = "\n".join(f"{f.check}: {f.message}" for f in findings)
        lines.append(github_annotation(str(shown), case_line(scenario, case),
                                       f"{scenario.name}[{case.id}]", message))
    return lines
