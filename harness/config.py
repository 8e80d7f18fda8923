"""Config: every setting in one table, shared by the pytest plugin and the CLI, resolved once
into a frozen Config (command line over environment over pyproject.toml over default)."""

from __future__ import annotations

import configparser
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.build.cache import default_cache_dir
from harness.build.options import BuildOptions
from harness.errors import ConfigError
from harness.options import RunOptions
from harness.server.providers import (
    BUILT_IN,
    DEFAULT_CONTAINER_IMAGE,
    ServerOptions,
    provider_class,
)
from harness.verdict.gate import Policy

CACHE_MODES = ("on", "off", "refresh")
ON_MISSING_DOCKER = ("error", "skip")
ON_OFF = ("off", "on")


@dataclass(frozen=True)
class Option:
    """One setting: `--plans-<name>` on the command line, `plans_<name>` in pyproject.toml."""

    name: str
    default: str
    help: str
    choices: tuple[str, ...] | None = None
    env: str | None = None
    parse: Callable[[str, str], Any] = lambda value, flag: value
    # the TOML type a native [tool.pytest] table may give besides a string
    kind: type[bool] | type[int] | type[float] | type[str] = str
    # the default as the help says it, when it is computed at run time
    shown_default: str = ""

    @property
    def flag(self) -> str:
        return "--plans-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "plans_" + self.name

    @property
    def dest(self) -> str:
        return "plans_" + self.name

    def argument(self, dest: str) -> tuple[tuple[str], dict[str, Any]]:
        """The add_argument()/addoption() call for this option, the same for argparse and
        pytest, so the CLI and the plugin describe it alike."""
        extra = f" (env {self.env})" if self.env else ""
        return (self.flag,), {"dest": dest, "default": None, "choices": self.choices,
                              "help": f"{self.help}; default "
                                      f"{self.shown_default or self.default or 'none'}{extra}"}


def _int_at_least(minimum: int) -> Callable[[str, str], int]:
    def parse(value: str, flag: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{flag}: {value!r} is not a whole number") from None
        if number < minimum:
            raise ConfigError(f"{flag}: {number} is below the minimum {minimum}")
        return number

    return parse


_SWITCH_WORDS = {"on": True, "true": True, "yes": True, "1": True,
                 "off": False, "false": False, "no": False, "0": False}


def _switch(value: str, flag: str) -> bool:
    """An on/off option: `on`/`off` on the command line; a config file may also say
    true/false (a native TOML boolean), yes/no or 1/0."""
    try:
        return _SWITCH_WORDS[value.strip().lower()]
    except KeyError:
        raise ConfigError(f"{flag}: unknown value {value!r} (choose from off, on)") from None


def _number_at_least(minimum: float) -> Callable[[str, str], float]:
    def parse(value: str, flag: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{flag}: {value!r} is not a number") from None
        if not math.isfinite(number) or number < minimum:
            raise ConfigError(f"{flag}: {value} is not a number of at least {minimum:g}")
        return number

    return parse


def _known_provider(value: str, flag: str) -> str:
    provider_class(value, flag)  # a registered name, a built-in one, or module:Class
    return value


_DEFAULT_POLICY = Policy()

OPTIONS: tuple[Option, ...] = (
    Option("provider", "embedded", "where PostgreSQL comes from: "
           f"{', '.join(BUILT_IN)}, or module:Class for a provider of your own",
           parse=_known_provider),
    Option(
        "dsn",
        "",
        "server to use with --plans-provider dsn (a libpq DSN or URL); the harness "
        "creates its own database there and drops it afterwards",
        env="PLAN_HARNESS_DSN",
    ),
    Option("profile", "ci", "scale profile from the project's profiles file"),
    Option(
        "seed",
        "1",
        "seed of the data generator; the same seed gives the same data",
        parse=_int_at_least(0),
        kind=int,
    ),
    Option("revision", "head", "schema revision to plan against (an Alembic revision id)"),
    Option("report_dir", "reports", "where index.html, summary.md and results.json are written"),
    Option("runs", "20", "timed executions per plan mode", parse=_int_at_least(1),
           kind=int),
    Option("warmup", "3", "untimed executions before the timed ones", parse=_int_at_least(0),
           kind=int),
    Option(
        "on_missing_docker",
        "error",
        "with --plans-provider testcontainers and no Docker: "
        "stop with an error, or skip the plan checks",
        ON_MISSING_DOCKER,
    ),
    Option("image", DEFAULT_CONTAINER_IMAGE, "image for --plans-provider testcontainers"),
    Option("cache", "on", "reuse built embedded databases: on (reuse or build and keep), off, "
           "refresh (rebuild and replace)", CACHE_MODES),
    Option("cache_dir", "", "where built databases are kept", env="PLAN_HARNESS_CACHE_DIR",
           shown_default="$XDG_CACHE_HOME/plan-harness or ~/.cache/plan-harness"),
    Option("allow_existing_db", "off", "with --plans-provider dsn: plan against the DSN's own "
           "database as it is (nothing created, migrated or loaded; the session is read-only "
           "and a statement that modifies data is planned with EXPLAIN, never run)", ON_OFF,
           parse=_switch, kind=bool),
    Option("existing_db_budgets", "", "with --plans-allow-existing-db on: check the p95 and "
           "shared-buffers budgets of this profile (by default none: the harness did not "
           "load that database, so no profile's budgets describe it)"),
    Option("base_revision", "", "pytest only: run the selected scenarios at this revision "
           "first, then migrate the same database to --plans-revision and run the items there; "
           "the report and summary.md compare the two (outside pytest: plan-harness compare)"),
    Option("baseline", "", "a baseline file: compare each item's plan shape and shared "
           "buffers with it; a changed plan that reads more fails"),
    Option("update_baseline", "off", "write the baseline file (--plans-baseline) from this "
           "run instead of comparing", ON_OFF, parse=_switch, kind=bool),
    Option("migration_check", "off", "apply the migrations after the load revision one at a "
           "time while a writer inserts rows, and fail when a write waits longer than "
           "--plans-max-write-wait-ms or an index is left INVALID", ON_OFF, parse=_switch,
           kind=bool),
    Option("stats", "", "a statistics file (plan-harness stats capture): load it into the "
           "built database so the planner plans as at the captured scale, and plan each "
           "scenario with EXPLAIN, not run it (plan checks only; budgets not measured)"),
    Option("annotations", "off", "github: print a GitHub Actions ::error annotation per failed "
           "item, on its scenario file at the line of its [[cases]] entry", ("off", "github")),
    Option("max_write_wait_ms", "200", "budget of the migration check: the longest a write may "
           "wait on one migration statement", parse=_int_at_least(0), kind=int),
    Option("buffer_tolerance", f"{_DEFAULT_POLICY.buffer_ratio:g}", "against a baseline or "
           "a base revision: an item whose shared buffers grow beyond this ratio (and by "
           "--plans-buffer-slack) regresses, whatever index its plan uses",
           parse=_number_at_least(1.0), kind=float),
    Option("buffer_slack", str(_DEFAULT_POLICY.buffer_slack), "the fewest extra shared "
           "buffers that count as growth (a few pages on a tiny plan are layout)",
           parse=_int_at_least(0), kind=int),
    Option("latency_tolerance", f"{_DEFAULT_POLICY.latency_ratio:g}", "against a base "
           "revision or baseline: a fastest run slower by more than this ratio (or than the "
           "noise measured in the run, if larger), with the machine's slowdown divided out, "
           "regresses", parse=_number_at_least(1.0), kind=float),
)


@dataclass(frozen=True)
class Config:
    provider: str
    dsn: str
    profile: str
    seed: int
    revision: str
    report_dir: Path
    runs: int
    warmup: int
    on_missing_docker: str
    image: str
    cache: str
    cache_dir: Path
    allow_existing_db: bool
    existing_db_budgets: str
    base_revision: str
    baseline: Path | None
    update_baseline: bool
    migration_check: bool
    max_write_wait_ms: int
    stats: Path | None
    buffer_tolerance: float = _DEFAULT_POLICY.buffer_ratio
    buffer_slack: int = _DEFAULT_POLICY.buffer_slack
    latency_tolerance: float = _DEFAULT_POLICY.latency_ratio

    @property
    def policy(self) -> Policy:
        return Policy(self.buffer_tolerance, self.buffer_slack, self.latency_tolerance,
                      _DEFAULT_POLICY.latency_floor_ms)
    annotations: str = "off"

    @classmethod
    def resolve(
        cls,
        given: Mapping[str, object],
        ini: Mapping[str, object],
        env: Mapping[str, str],
        base_dir: Path,
        ini_file: Path | None = None,
    ) -> Config:
        """`given` holds command-line values (None when absent), `ini` those of the pytest
        config file `ini_file` (pytest.ini, pyproject.toml, ...)."""
        values: dict[str, Any] = {}
        file_name = ini_file.name if ini_file is not None else "pyproject.toml"
        for option in OPTIONS:
            raw, source = _pick(option, given, ini, env, file_name)
            # a switch's own parser reads the config file's other spellings of on and off
            if option.choices and option.kind is not bool and raw not in option.choices:
                raise ConfigError(
                    f"{source}: unknown value {raw!r} (choose from {', '.join(option.choices)})"
                )
            values[option.name] = option.parse(raw, source)
        report_dir = Path(values["report_dir"])
        values["report_dir"] = report_dir if report_dir.is_absolute() else base_dir / report_dir
        values["cache_dir"] = Path(values["cache_dir"]) if values["cache_dir"] else (
            default_cache_dir())
        values["baseline"] = base_dir / values["baseline"] if values["baseline"] else None
        values["stats"] = base_dir / values["stats"] if values["stats"] else None
        config = cls(**values)
        provider = provider_class(config.provider)
        if config.allow_existing_db and not provider.may_use_existing_database:
            raise ConfigError("--plans-allow-existing-db on needs --plans-provider dsn")
        if config.existing_db_budgets and not config.allow_existing_db:
            raise ConfigError("--plans-existing-db-budgets needs --plans-allow-existing-db on")
        if config.stats is not None and config.allow_existing_db:
            raise ConfigError("--plans-stats loads statistics into the harness's own database; "
                              "it cannot be used with --plans-allow-existing-db on")
        if config.stats is not None and provider.distributed:
            raise ConfigError(f"--plans-stats plans on one node's statistics; it cannot be used "
                              f"with --plans-provider {config.provider} (a cluster's plans are "
                              "made on its shards)")
        if config.update_baseline and config.baseline is None:
            raise ConfigError("--plans-update-baseline on needs --plans-baseline FILE")
        provider(config.server_options)  # refuses what the kind lacks (a DSN, say)
        return config

    @property
    def server_options(self) -> ServerOptions:
        return ServerOptions(self.provider, self.dsn, self.image)

    def run_options(self, **changes: Any) -> RunOptions:
        """What one run reads of these settings; `changes` override fields of it (a
        comparison's first run at another revision, a stamp's single timed execution)."""
        build = BuildOptions(self.server_options, self.seed, self.cache, self.cache_dir)
        options = RunOptions(
            build=build, profile=self.profile, revision=self.revision, runs=self.runs,
            warmup=self.warmup, allow_existing_db=self.allow_existing_db,
            existing_db_budgets=self.existing_db_budgets, baseline=self.baseline,
            update_baseline=self.update_baseline, migration_check=self.migration_check,
            max_write_wait_ms=self.max_write_wait_ms, stats=self.stats, policy=self.policy)
        return replace(options, **changes)


def _pick(
    option: Option,
    given: Mapping[str, object],
    ini: Mapping[str, object],
    env: Mapping[str, str],
    file_name: str,
) -> tuple[str, str]:
    if given.get(option.name) is not None:
        return str(given[option.name]), option.flag
    if option.env and env.get(option.env):
        return env[option.env], option.env
    # a native TOML table gives numbers as numbers: 0 is a value, only "" means unset
    value = ini.get(option.name)
    if value is not None and value != "":
        return str(value), f"{option.ini} ({file_name})"
    return option.default, option.flag


# The files pytest reads its configuration from, in its order of precedence in one
# directory (pytest's findpaths.CONFIG_LOADERS_BY_NAME), so that `plan-harness` takes the
# plans_* settings from the very file `pytest` would.
CONFIG_FILES = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml",
                "tox.ini", "setup.cfg")


@dataclass(frozen=True)
class ConfigFile:
    """The pytest configuration file a directory is under and its plans_* values (strings,
    or numbers from a native TOML table)."""

    path: Path | None
    values: Mapping[str, object]


def find_config_file(start: Path) -> ConfigFile:
    """The config file pytest would take when started with `start` as its argument: the
    first of CONFIG_FILES holding pytest settings in `start` or the nearest directory above
    it (pytest.toml and pytest.ini count even when empty), else the nearest pyproject.toml."""
    first_pyproject: Path | None = None
    for directory in (start, *start.parents):
        for name in CONFIG_FILES:
            path = directory / name
            if not path.is_file():
                continue
            if name == "pyproject.toml" and first_pyproject is None:
                first_pyproject = path
            table = _pytest_table(path)
            if table is not None:
                return ConfigFile(path, {o.name: table[o.ini] for o in OPTIONS
                                         if o.ini in table})
    return ConfigFile(first_pyproject, {})


def _pytest_table(path: Path) -> Mapping[str, object] | None:
    """The pytest settings `path` holds, or None when pytest would pass it by."""
    try:
        if path.suffix == ".toml":
            document = tomllib.loads(path.read_text())
            if path.name != "pyproject.toml":
                return dict(document.get("pytest", {}))
            tool = document.get("tool", {}).get("pytest")
            if tool is None:
                return None
            native = {k: v for k, v in tool.items() if k != "ini_options"}
            return native or tool.get("ini_options")
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(path.read_text(), str(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(f"{path}: cannot read the pytest settings: {first}") from None
    section = "tool:pytest" if path.name == "setup.cfg" else "pytest"
    if parser.has_section(section):
        return dict(parser.items(section))
    return {} if path.name in ("pytest.ini", ".pytest.ini") else None
