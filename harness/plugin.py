"""Plugin: pytest glue. Options in, scenario files collected as items marked `plans`, one
PlanRun opened before the first item and closed (with the report written) after the last."""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import hookspec, preflight
from harness.config import OPTIONS, Config, Option
from harness.errors import DockerUnavailable, HarnessError
from harness.lifecycle import Finished, Lifecycle
from harness.project.manifest import Profile, Project, read_project
from harness.project.scenarios import Case, Scenario, read_scenario
from harness.report.junit import junit_properties
from harness.report.output import (
    WORKERS_DIR,
    Document,
    ReportPaths,
    merge_worker_results,
    read_results,
    write_worker_results,
)
from harness.report.render import counts_line, ordered_items
from harness.run import PlanRun, failure_text
from harness.verdict.results import CaseResult

MARKER = "plans"


class PlanSession:
    """Run-wide state kept in config.stash: the settings, the project and the open run."""

    def __init__(self, settings: Config, project: Project,
                 profiles: Mapping[str, Profile] | None) -> None:
        self.settings = settings
        self.project = project
        self.profiles = profiles  # what scenario budgets may name
        self.run: PlanRun | None = None
        self.skip_reason: str | None = None
        self.report_paths: ReportPaths | None = None
        self.before: Document | None = None  # the base run, with --plans-base-revision
        self.deselected = 0  # plan items collected but left out by -m or -k


SESSION = pytest.StashKey[PlanSession]()


class PlanFailure(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.scenario.name)
        self.result = result


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("plans", "plan-harness (EXPLAIN-plan regression checks)")
    for option in OPTIONS:
        flags, settings = option.argument(option.dest)
        group.addoption(*flags, **settings)
        parser.addini(option.ini, help=f"plan-harness: {option.help}", type=_ini_type(option),
                      default=None)


def _ini_type(option: Option) -> Any:
    """pytest 9.2 takes a type expression: `int | str` lets a native [tool.pytest] table say
    `plans_runs = 20`, while a string (pytest.ini, [tool.pytest.ini_options]) still reaches
    Config's own parser, whose error names the option and the value. Older pytest reads
    every value as a string."""
    if option.kind is str or pytest.version_tuple < (9, 2):
        return None
    return option.kind | str


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: an EXPLAIN-plan check of a scenario case (plan-harness)"
    )
    locations = config.hook.pytest_plans_locations(config=config)
    if not locations:
        return  # no project here: the plugin stays out of the way
    given = {o.name: config.getoption(o.dest) for o in OPTIONS}
    ini = {o.name: config.getini(o.ini) for o in OPTIONS}
    try:
        settings = Config.resolve(given, ini, os.environ, config.rootpath, config.inipath)
        project = read_project(Path(locations["fixtures"]), Path(locations["scenarios"]))
    except HarnessError as exc:
        raise pytest.UsageError(f"plan-harness: {exc}") from None
    try:
        profiles = _preflight(settings, project)
    except HarnessError as exc:
        _refuse_lost_config(config, project)  # when it was lost, the likelier cause
        raise pytest.UsageError(f"plan-harness: {exc}") from None
    config.stash[SESSION] = PlanSession(settings, project, profiles)
    if _distributed(config):
        _prepare_distributed(settings)


def _preflight(settings: Config, project: Project) -> Mapping[str, Profile] | None:
    """Everything the project and the options can get wrong, before any server; each
    scenario file is checked as it is collected. Returns the project's profiles."""
    revisions = [("--plans-revision", settings.revision)]
    if settings.base_revision:
        revisions.insert(0, ("--plans-base-revision", settings.base_revision))
    profiles, problems = preflight.project_problems(project, revisions)
    problems += preflight.option_problems(settings.run_options(), project, profiles)
    problems += preflight.write_problems([(settings.report_dir, "the report")])
    missing = preflight.scenario_dir_problem(project.scenarios_dir)
    preflight.require([*problems, *([missing] if missing else [])])
    return profiles


def _prepare_distributed(settings: Config) -> None:
    """Before the workers start: the options that need one process for the whole run are
    refused, and an earlier run's worker results are cleared."""
    if settings.base_revision or settings.update_baseline:
        raise pytest.UsageError("plan-harness: --plans-base-revision and "
                                "--plans-update-baseline need a single process; run without -n")
    shutil.rmtree(settings.report_dir / WORKERS_DIR, ignore_errors=True)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    session = parent.config.stash.get(SESSION, None)
    if session is None or file_path.suffix != ".toml" or file_path.name.startswith("_"):
        return None
    if file_path.parent.resolve() != session.project.scenarios_dir.resolve():
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[PlanItem]:
        plans = self.config.stash[SESSION]
        try:
            scenario = read_scenario(self.path)
            preflight.require(preflight.scenario_problems(scenario, plans.project,
                                                          plans.profiles))
        except HarnessError as exc:
            raise self.CollectError(str(exc)) from None
        for case in scenario.cases:
            yield PlanItem.from_parent(
                self, name=f"{scenario.name}[{case.id}]", scenario=scenario, case=case
            )


def _open_run(config: pytest.Config) -> PlanRun:
    """The run the items share, opened before the first; a skip when Docker was missing
    and skipping was asked for."""
    session = config.stash[SESSION]
    if session.skip_reason:
        pytest.skip(session.skip_reason)
    if session.run is None:
        raise HarnessError("plan-harness: no database (provisioning did not run)")
    return session.run


class PlanItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.case = case
        self.add_marker(MARKER)

    def runtest(self) -> None:
        result = _open_run(self.config).run_case(self.scenario, self.case)
        if not result.verdict.passed:
            raise PlanFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PlanFailure):
            result = excinfo.value.result
            if result.verdict.outcome == "error":
                return f"ERROR {result.verdict.first_reason}"
            return failure_text(result, self.config.rootpath)
        if isinstance(excinfo.value, HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"plan check {self.name}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """A plan item's figures become its JUnit properties, whether it passed or failed."""
    try:
        return (yield)
    finally:
        _record_figures(item)


def _record_figures(item: pytest.Item) -> None:
    plans = item.config.stash.get(SESSION, None)
    if not isinstance(item, PlanItem) or plans is None or plans.run is None:
        return
    for result in reversed(plans.run.results):
        if (result.scenario.name, result.case.id) == (item.scenario.name, item.case.id):
            item.user_properties += junit_properties(result)
            return


class MigrationFailure(Exception):
    pass


class MigrationCheckItem(pytest.Item):
    """With --plans-migration-check on: the migrations applied under a writer (the run does it
    while provisioning) kept every write within its budget and left no INVALID index."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(MARKER)

    def runtest(self) -> None:
        failures = _open_run(self.config).migration_failures
        if failures:
            raise MigrationFailure("\n".join(failures))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, MigrationFailure | HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.config.rootpath, 0, "migration check under a writer"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Adds the migration check ahead of the plan items (before -m and -k select)."""
    plans = config.stash.get(SESSION, None)
    if plans is None or not plans.settings.migration_check:
        return
    if any(isinstance(item, PlanItem) for item in items):
        items.insert(0, MigrationCheckItem.from_parent(session, name="plans-migration-check"))


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    plans = items[0].config.stash.get(SESSION, None) if items else None
    if plans is not None:
        plans.deselected += sum(isinstance(item, PlanItem) for item in items)


def _needs_database(session: pytest.Session) -> bool:
    if session.config.option.collectonly:
        return False
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return False  # pytest stops before running anything
    return any(isinstance(item, PlanItem | MigrationCheckItem) for item in session.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    plans = session.config.stash.get(SESSION, None)
    if plans is None or not _needs_database(session):
        collected = not session.testsfailed  # no collection error
        outcome = yield
        if plans is not None and plans.deselected and _worker_id(session.config) is None \
                and not session.config.option.collectonly and collected:
            # the plan items were there and -m or -k left every one out (`-m "not db"`):
            # the report directory is another run's to write, and is left as it is
            terminal = session.config.pluginmanager.get_plugin("terminalreporter")
            _write_lines(terminal, [
                f"plan-harness: no plan item ran (-m/-k selected none of the "
                f"{plans.deselected} collected); {plans.settings.report_dir} left as it was"])
        return outcome
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")

    def progress(message: str) -> None:
        if terminal is not None:
            terminal.write_line(f"plan-harness: {message}")

    _refuse_lost_config(session.config, plans.project)
    settings = plans.settings
    options = (settings.run_options(revision=settings.base_revision, migration_check=False)
               if settings.base_revision else settings.run_options())
    life = Lifecycle(options, plans.project, progress, root=session.config.rootpath,
                     report_dir=settings.report_dir, annotations=settings.annotations)
    try:
        life.__enter__()
        if settings.base_revision:
            base = life.base_then_head(_selected_cases(session), settings.revision,
                                       under_writer=settings.migration_check)
            plans.before = base.document
        plans.run = life.run
    except DockerUnavailable as exc:
        life.__exit__()
        if settings.on_missing_docker != "skip":
            raise pytest.UsageError(f"plan-harness: {exc}") from None
        plans.skip_reason = str(exc)
    except HarnessError as exc:
        life.__exit__()
        raise pytest.UsageError(f"plan-harness: {exc}") from None
    try:
        return (yield)
    finally:
        try:
            finished = _finish(life, plans, session.config)
        finally:
            life.__exit__()
        _write_lines(terminal, finished.annotations)
        session.testsfailed += len(finished.facts.missing)  # each a regression: exit 1


def _selected_cases(session: pytest.Session) -> list[tuple[Scenario, Case]]:
    return [(item.scenario, item.case) for item in session.items if isinstance(item, PlanItem)]


def _finish(life: Lifecycle, plans: PlanSession, config: pytest.Config) -> Finished:
    """The run's end: on an xdist worker its share of the results for the controller to
    merge; otherwise the report, saying why when no item ran (every one skipped, or the run
    stopped before them: -x, Ctrl-C)."""
    worker = _worker_id(config)
    if worker is not None:
        finished = life.finish(report=False)
        if finished.results:
            write_worker_results(plans.settings.report_dir, worker, finished.facts,
                                 finished.results, config.rootpath)
        return finished
    why = (f": every selected item was skipped ({plans.skip_reason})"
           if plans.skip_reason else "")
    finished = life.finish(note="" if life.run.results else f"No plan item ran{why}.")
    plans.report_paths = finished.paths
    return finished


def _refuse_lost_config(config: pytest.Config, project: Project) -> None:
    """pytest found no config file, but the project has one: its plans_* settings would be
    silently ignored. The usual cause is an option's value given after a space
    (`--plans-report-dir DIR`): pytest looks for its config file from the first
    argument that is not an option, before it knows the plugin's options."""
    if config.inipath is not None:
        return
    found = project_config_file(project.scenarios_dir)
    if found is not None:
        raise pytest.UsageError(
            f"plan-harness: pytest found no config file, so the settings in {found} were "
            "not read: a value after a space (--plans-report-dir DIR) is taken for a test "
            "path to look for the config from; write --plans-report-dir=DIR (or -c "
            f"{found})")


def project_config_file(start: Path) -> Path | None:
    """The pytest config file of the project holding `start`: the nearest pytest.ini,
    pytest.toml, or pyproject.toml with a [tool.pytest] table, at `start` or above it."""
    for directory in (start, *start.parents):
        for name in ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml"):
            if (directory / name).is_file():
                return directory / name
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                tool = tomllib.loads(pyproject.read_text()).get("tool", {})
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if isinstance(tool, dict) and "pytest" in tool:
                return pyproject
    return None


def _write_lines(terminal: Any, lines: list[str]) -> None:
    """Lines of their own on the terminal, if there is one: the first starts after the
    progress dots, as GitHub reads a workflow command only at the start of a line."""
    if terminal is not None and lines:
        terminal.write("\n")
        for line in lines:
            terminal.write_line(line)


def _worker_id(config: pytest.Config) -> str | None:
    """The pytest-xdist worker this process is, or None (a plain run, or the controller)."""
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else None


def _distributed(config: pytest.Config) -> bool:
    """True in the pytest-xdist controller of a run with workers (-n N)."""
    return _worker_id(config) is None and bool(getattr(config.option, "numprocesses", None))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With -n, the controller merges the workers' results into the one report."""
    plans = session.config.stash.get(SESSION, None)
    if plans is not None and _distributed(session.config):
        plans.report_paths = merge_worker_results(plans.settings.report_dir)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The same counts as summary.md, and every FAIL, ERROR and WARN item with its first
    reason (pytest itself shows warnings as passes)."""
    plans = config.stash.get(SESSION, None)
    if plans is None or plans.report_paths is None:
        return
    paths = plans.report_paths
    document = read_results(paths.results)
    terminalreporter.write_sep("-", f"plan-harness: {counts_line(document['counts'])}")
    if document["run"].get("note"):
        terminalreporter.write_line(document["run"]["note"])
    for item in ordered_items(document):
        if item["outcome"] != "pass":
            terminalreporter.write_line(f"{item['outcome'].upper():5} {item['id']}: "
                                        f"{item['reason']}")
    for missing in document["run"].get("missing", []):
        terminalreporter.write_line(f"FAIL  {missing}: in the baseline, no longer in the "
                                    "scenarios")
    terminalreporter.write_line(f"report: {paths.html}")
    terminalreporter.write_line(f"summary: {paths.summary}")
    terminalreporter.write_line(f"results: {paths.results}")
