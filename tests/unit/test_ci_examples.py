"""The CI examples in docs/ci stay true to the code: they are the files `plan-harness init
--ci` writes, and every plan-harness and pytest command line in them parses with today's
options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.config import OPTIONS
from harness.project.scaffold import ci_file
from support import REPO

EXAMPLES = sorted((REPO / "docs" / "ci").glob("*.yml"))


def command_lines(path: Path, program: str) -> list[list[str]]:
    """The shell words of each `.venv/bin/<program> ...` command, continuations joined and
    CI variables replaced by a placeholder."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    text = text.replace("$PLAN_HARNESS_ARGS", "")  # extra options, empty by default
    text = re.sub(r"\$\{\{[^}]*\}\}|\$[A-Z_]+", "X", text)
    found = []
    for line in text.splitlines():
        if f".venv/bin/{program} " in line:
            words = shlex.split(line.split(f".venv/bin/{program} ", 1)[1])
            found.append(words)
    return found


@pytest.mark.parametrize(("forge", "name"), [("github", "github-actions.yml"),
                                             ("gitlab", "gitlab-ci.yml")])
def test_the_examples_are_what_init_writes(forge: str, name: str) -> None:
    """One template: regenerate docs/ci with
    `python -c "from harness.project.scaffold import ci_file; print(ci_file('gitlab')[1], end='')"`."""
    assert (REPO / "docs" / "ci" / name).read_text() == ci_file(forge)[1]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_command_in_the_examples_parses(path: Path) -> None:
    harness_commands = command_lines(path, "plan-harness")
    pytest_commands = command_lines(path, "pytest")
    assert harness_commands and pytest_commands
    for words in harness_commands:
        build_parser().parse_args(words)  # exits (a failure here) on an unknown option
    flags = {o.flag for o in OPTIONS}
    for words in pytest_commands:
        assert {w for w in words if w.startswith("--plans-")} <= flags
