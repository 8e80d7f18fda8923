"""Pre-flight: everything about a run that can be checked without a server is checked before
one starts, so a mistake in the project, a scenario or an option is told in the first second
as one line (exit 2), never after minutes of loading, and never as a failed check (exit 1).

`plan-harness validate` reports every problem found (one line each); a run stops at the
first. Checks that need the server (its version, the role's rights) come right after
connecting, in the session."""

from __future__ import annotations

import tempfile
import tomllib
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.build.distributed import schema_project
from harness.build.migrations import Revisions
from harness.errors import ConfigError, HarnessError
from harness.options import RunOptions
from harness.project.distribution import declaration_problems
from harness.project.manifest import Profile, Project
from harness.project.scenarios import (
    AnchorRef,
    Scenario,
    budget_profile_problems,
    read_scenario,
    scenario_files,
)
from harness.server.providers import BUILT_IN, provider_for
from harness.verdict.baseline import read_baseline

# (where it was given, revision): "--plans-revision", "20250115000000"
Given = tuple[str, str]


@dataclass(frozen=True)
class Inputs:
    """The scenarios that loaded, and every problem found, one line each."""

    scenarios: list[Scenario]
    problems: list[str]
    profiles: Mapping[str, Profile] | None  # None when they do not load


def require(problems: Sequence[str]) -> None:
    """A run stops at the first problem: one line, exit 2."""
    if problems:
        raise ConfigError(problems[0])


def check_run(settings: RunOptions, project: Project, revisions: Sequence[Given],
              write_problems_found: Sequence[str]) -> list[Scenario]:
    """Before a run (CLI): the whole project, the options and the places the run writes
    (their problems given); the first problem stops it. Returns the scenarios."""
    # the revisions asked for are the chain's this server kind builds with
    inputs = check_inputs(schema_project(project, provider_for(settings.server)), revisions)
    require([*inputs.problems, *option_problems(settings, project, inputs.profiles),
             *write_problems_found])
    return inputs.scenarios


def check_inputs(project: Project, revisions: Sequence[Given] = ()) -> Inputs:
    """The whole project: migrations and the revisions asked for, the generator and its
    profiles, every scenario file and what it refers to."""
    profiles, problems = project_problems(project, revisions)
    scenarios, scenario_problems_found = read_all_scenarios(project.scenarios_dir)
    problems += scenario_problems_found
    for scenario in scenarios:
        problems += scenario_problems(scenario, project, profiles)
    distribution = project.distribution
    if distribution is not None:
        problems += declaration_problems(distribution, project.anchors, project.manifest,
                                         scenarios)
        if distribution.migrations_dir != project.migrations_dir:
            problems += migration_problems(replace(project,
                                                   migrations_dir=distribution.migrations_dir))
    return Inputs(scenarios, problems, profiles)


def project_problems(project: Project, revisions: Sequence[Given] = ()
                     ) -> tuple[Mapping[str, Profile] | None, list[str]]:
    """The project without its scenarios: migrations, revisions, generator and profiles.
    Returns the profiles (None when they do not load) and the problems."""
    problems = migration_problems(project, revisions)
    profiles, profile_problems = _profiles(project)
    return profiles, problems + profile_problems


def option_problems(settings: RunOptions, project: Project,
                    profiles: Mapping[str, Profile] | None) -> list[str]:
    """Options that name something of the project: the profiles."""
    if profiles is None:
        return []  # the profiles' own problem is said already
    known = f"(known in {project.profiles_path}: {', '.join(sorted(profiles))})"
    problems = []
    if settings.profile not in profiles:  # as pyproject.toml or the command line gave it
        problems.append(f"unknown profile {settings.profile!r} {known}")
    budgets = settings.existing_db_budgets
    if budgets and budgets not in profiles:
        problems.append(f"--plans-existing-db-budgets: unknown profile {budgets!r} {known}")
    baseline = baseline_problem(settings)
    return [*problems, *([baseline] if baseline else [])]


def baseline_problem(settings: RunOptions) -> str | None:
    """A baseline to compare with is read before the run: missing, not TOML, of another
    format or profile. Whether its tables exist only the schema can tell, after loading."""
    path = settings.baseline
    if path is None:
        return None
    if settings.update_baseline:
        return writable_dir_problem(path.parent, "the baseline", named=path)
    profile = settings.existing_db_budgets if settings.allow_existing_db else (
        settings.profile)  # the profile the run records, as the session does
    try:
        read_baseline(path, profile, _recorded_tables(path))
    except HarnessError as exc:
        return str(exc)
    return None


def _recorded_tables(path: Path) -> frozenset[str]:
    """The tables a baseline file names, so that reading it early checks all but them."""
    try:
        head = tomllib.loads(path.read_text()).get("baseline", {})
        return frozenset(str(t) for t in head.get("tables", ()))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError, TypeError):
        return frozenset()  # read_baseline says what is wrong


def write_problems(writes: Sequence[tuple[Path, str]]) -> list[str]:
    """`writes`: (a directory to write into, what goes there)."""
    return [problem for directory, what in writes
            if (problem := writable_dir_problem(directory, what))]


def migration_problems(project: Project, revisions: Sequence[Given] = ()) -> list[str]:
    """The Alembic chain loads, `load_revision` and every given revision exist, and each
    given revision comes after the one before it (the first at or after the data
    revision)."""
    migrations = project.migrations_dir
    if not (migrations / "env.py").is_file():
        return [f"{project.manifest}: schema.migrations: {migrations} has no env.py "
                "(not an Alembic migrations folder)"]
    chain = Revisions(migrations)
    broken = _chain_problem(chain)
    if broken:
        return [f"{migrations}: the migrations do not load: {broken}"]
    try:
        previous = chain.resolve(project.load_revision)
    except HarnessError as exc:
        return [f"{project.manifest}: schema.load_revision: {exc}"]
    problems = []
    for position, (where, revision) in enumerate(revisions):
        try:
            resolved = chain.resolve(revision)
        except HarnessError as exc:
            problems.append(str(exc))  # it names the revision as given
            continue
        if not position and not chain.is_at_or_after(resolved, previous):
            problems.append(f"{where}: revision {resolved} is before the load revision "
                            f"{previous}; nothing to load into")
        elif position and (resolved == previous
                           or not chain.is_at_or_after(resolved, previous)):
            # a later revision is migrated to from the one before, so it must come after it
            problems.append(f"{where}: revision {resolved} is not after {previous}: "
                            "nothing to migrate")
        previous = resolved
    return problems


def _chain_problem(chain: Revisions) -> str | None:
    """Why the chain does not load (a file that does not import, a down_revision that names
    no migration), or None. Alembic says the latter as a warning before a bare KeyError, so
    its warning is the message."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            list(chain.script().walk_revisions())
            error = None
        except Exception as exc:  # the project's migration files: the user's to fix
            error = _first_line(exc)
    if error is None:
        return None  # a warning alone (Alembic's about an older alembic.ini) is no problem
    said = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    return said[0] if said else error


def _profiles(project: Project) -> tuple[Mapping[str, Profile] | None, list[str]]:
    """The profiles (which imports the generator for their bounds), or the problem."""
    try:
        return project.profiles(), []
    except HarnessError as exc:
        return None, [str(exc)]


def read_all_scenarios(directory: Path) -> tuple[list[Scenario], list[str]]:
    """Every scenario file, each broken one a problem of its own; a directory without one
    is a problem too, and so are two files with the same scenario name."""
    missing = scenario_dir_problem(directory)
    if missing:
        return [], [missing]
    files = scenario_files(directory)
    scenarios, problems = [], []
    names: dict[str, Path] = {}
    for path in files:
        try:
            scenario = read_scenario(path)
        except HarnessError as exc:
            problems.append(str(exc))
            continue
        if scenario.name in names:
            problems.append(f"{path}: name: {scenario.name!r} is also used by "
                            f"{names[scenario.name]}")
            continue
        names[scenario.name] = path
        scenarios.append(scenario)
    return scenarios, problems


def scenario_dir_problem(directory: Path) -> str | None:
    """A scenario directory that is missing or holds no scenario file (*.toml)."""
    if not directory.is_dir():
        return f"{directory}: scenario directory not found"
    if scenario_files(directory):
        return None
    others = sorted(p.name for p in directory.iterdir() if p.is_file())
    held = f" (it holds {', '.join(others[:3])}{', ...' if len(others) > 3 else ''})" \
        if others else ""
    return f"{directory}: no scenario file (*.toml){held}"


def scenario_problems(scenario: Scenario, project: Project,
                      profiles: Mapping[str, Profile] | None) -> list[str]:
    """What a loaded scenario refers to: the project's anchors and profiles."""
    problems = []
    for i, case in enumerate(scenario.cases):
        for key, value in case.values.items():
            if isinstance(value, AnchorRef) and value.name not in project.anchors:
                problems.append(
                    f"{scenario.path}: cases[{i}].values.{key}: unknown anchor @{value.name} "
                    f"(defined in {project.manifest.name}: "
                    f"{', '.join(sorted(project.anchors)) or 'none'})")
    if profiles is not None:
        known = [*profiles, *cluster_budget_keys(project, profiles)]
        problems += budget_profile_problems(scenario, known, project.profiles_path.name)
    return problems


def cluster_budget_keys(project: Project, profiles: Collection[str]) -> list[str]:
    """With a [distribution]: budgets of a cluster, `<profile>@<kind>` for each built-in kind."""
    if project.distribution is None:
        return []
    return [f"{profile}@{kind}" for profile in profiles for kind in BUILT_IN]


def writable_dir_problem(directory: Path, what: str, named: Path | None = None) -> str | None:
    """Whether `directory` exists or can be made, and takes files: probed with a nameless
    temporary file in it or in its nearest existing parent, so nothing is left behind. The
    problem names `named` (the file to be written there) or the directory."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    name = named or directory
    if not existing.is_dir():
        return f"{name}: cannot write {what}: {existing} is not a directory"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return f"{name}: cannot write {what}: {existing}: {exc.strerror or exc}"
    return None


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
