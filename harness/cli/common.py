"""What the commands share: the settings and the project they run on, the selected items, the
progress and verdict lines they print."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from harness import preflight
from harness.config import OPTIONS, Config, find_config_file
from harness.errors import HarnessError
from harness.lifecycle import HEAD, Lifecycle, OnResult
from harness.options import RunOptions
from harness.project.manifest import Project, read_project
from harness.project.scenarios import Case, Scenario
from harness.report.output import (
    ReportPaths,
)
from harness.run import failure_text
from harness.verdict.results import CaseResult, item_id


def resolve_settings(root: Path, given: dict[str, object]) -> Config:
    """The settings pytest would resolve in `root`: the plans_* keys of the config file
    pytest would read (pytest.toml, pytest.ini, pyproject.toml, tox.ini or setup.cfg)."""
    found = find_config_file(root)
    return Config.resolve(given, found.values, os.environ, root, found.path)


def project_of(args: argparse.Namespace) -> Project:
    """The project under --project-dir; --fixtures and --scenarios are relative to it, as
    the defaults are, wherever the command is started from."""
    root = args.project_dir.resolve()
    if not root.is_dir():
        raise HarnessError(f"--project-dir: {root} is not a directory")
    found = {}
    for flag, given, default in (("--fixtures", args.fixtures, "fixtures"),
                                 ("--scenarios", args.scenarios, "scenarios")):
        path = (root / (given or default)).resolve()
        if not path.is_dir():
            raise HarnessError(
                f"{flag}: {path} is not a directory" if given else
                f"--project-dir: {root} has no {default}/ directory (plan-harness init DIR "
                f"writes a project; {flag} names another directory)")
        found[flag] = path
    return read_project(found["--fixtures"], found["--scenarios"])


def progress(message: str) -> None:
    print(f"plan-harness: {message}", file=sys.stderr, flush=True)


def print_paths(paths: ReportPaths) -> None:
    print(f"report: {paths.html}\nsummary: {paths.summary}\nresults: {paths.results}")


Selection = list[tuple[Scenario, Case]]


def settings_and_selection(args: argparse.Namespace,
                            **overrides: str) -> tuple[Config, Project, Selection]:
    root = args.project_dir.resolve()
    given: dict[str, object] = {o.name: getattr(args, o.name, None) for o in OPTIONS}
    given |= overrides
    settings = resolve_settings(root, given)
    project = project_of(args)
    scenarios = preflight.check_run(settings.run_options(), project,
                                    revisions_given(args, settings),
                                    write_problems(args, settings))
    selected = [
        (s, c)
        for s in scenarios
        for c in s.cases
        if not args.keyword or args.keyword in f"{s.name}[{c.id}]"
    ]
    if not selected:
        raise HarnessError(f"-k {args.keyword!r} selects no scenario case")
    return settings, project, selected


def revisions_given(args: argparse.Namespace, settings: Config) -> list[preflight.Given]:
    """The revisions a command will move through, in order, named as they were given."""
    if args.command == "compare":
        return [("--base", args.base), ("--head", args.head)]
    if args.command == "capacity-review":
        return [("--base", settings.revision), ("--head", args.head)]
    return [("--plans-revision", settings.revision)]


def write_problems(args: argparse.Namespace, settings: Config) -> list[str]:
    """Where a command writes, checked before it starts: one line per place it cannot."""
    if args.command == "stats":
        out = args.out.absolute()
        problem = preflight.writable_dir_problem(out.parent, "the statistics", named=out)
        return [problem] if problem else []
    return preflight.write_problems([(settings.report_dir, "the report")])


def refuse_unwritable(paths: Collection[Path], what: str) -> None:
    """A command that will write these files (each replaced whole, through a temporary file
    beside it) refuses, before anything is built or measured, when one cannot be."""
    for path in sorted(paths):
        problem = preflight.writable_dir_problem(path.parent, what, named=path)
        if problem:
            raise HarnessError(f"{problem} (nothing was built or measured)")


def print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print(line, flush=True)


def show_verdicts(root: Path, details: Collection[str] = ("", HEAD)) -> OnResult:
    """Prints each item's verdict line as it is judged: FAIL, ERROR and WARN with their
    first reason, and the whole failure below a FAIL in the phases named in `details`."""
    def show(result: CaseResult, phase: str) -> None:
        verdict = result.verdict
        prefix = f"{phase} " if phase else ""
        line = f"{verdict.outcome.upper():5} {prefix}{item_id(result.scenario, result.case)}"
        print(f"{line}: {verdict.first_reason}" if verdict.first_reason else line, flush=True)
        if phase in details and verdict.outcome == "fail":
            print(failure_text(result, root), flush=True)

    return show


def lifecycle(args: argparse.Namespace, settings: Config, project: Project,
              details: Collection[str] = ("", HEAD), options: RunOptions | None = None,
              **changes: Any) -> Lifecycle:
    """The command's run, with its verdict lines printed as the items are judged: on
    `options` when given, else on the settings' with `changes` made."""
    root = args.project_dir.resolve()
    options = options or settings.run_options(**changes)
    return Lifecycle(options, project, progress, root=root,
                     report_dir=settings.report_dir, annotations=settings.annotations,
                     on_result=show_verdicts(root, details))
