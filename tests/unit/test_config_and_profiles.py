"""Settings resolution and scale-profile validation: bad values named, never guessed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.build.datagen import skewed_weights
from harness.config import Config
from harness.errors import ConfigError
from harness.project.manifest import Bound, read_profiles, read_project
from support import REPO


def resolve(given: dict[str, str | None] | None = None, ini: dict[str, str | None] | None = None,
            env: dict[str, str] | None = None) -> Config:
    return Config.resolve(given or {}, ini or {}, env or {}, Path("/repo"))


def test_defaults() -> None:
    config = resolve()
    assert (config.provider, config.profile, config.seed, config.revision) == (
        "embedded", "ci", 1, "head")
    assert config.report_dir == Path("/repo/reports")


def test_command_line_beats_environment_beats_pyproject() -> None:
    assert resolve({"dsn": "host=cli"}, {"dsn": "host=ini"},
                   {"PLAN_HARNESS_DSN": "host=env"}).dsn == "host=cli"
    assert resolve({}, {"dsn": "host=ini"}, {"PLAN_HARNESS_DSN": "host=env"}).dsn == "host=env"
    assert resolve({}, {"dsn": "host=ini"}).dsn == "host=ini"
    assert resolve({}, {"profile": "dev"}).profile == "dev"


@pytest.mark.parametrize(("given", "ini", "message"), [
    ({"provider": "docker"}, {}, "--plans-provider: unknown value 'docker'"),
    ({}, {"provider": "docker"}, "plans_provider (pyproject.toml): unknown value 'docker'"),
    ({"seed": "abc"}, {}, "--plans-seed: 'abc' is not a whole number"),
    ({"runs": "0"}, {}, "--plans-runs: 0 is below the minimum 1"),
    ({"on_missing_docker": "ignore"}, {}, "unknown value 'ignore'"),
    ({"provider": "dsn"}, {}, "--plans-provider dsn needs --plans-dsn or PLAN_HARNESS_DSN"),
    ({}, {"migration_check": "maybe"},
     "plans_migration_check (pyproject.toml): unknown value 'maybe' (choose from off, on)"),
])
def test_bad_values_are_rejected(given: dict[str, str], ini: dict[str, str],
                                 message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(given, ini)


@pytest.mark.parametrize(("given", "ini", "expected"), [
    ({}, {}, False),
    ({"migration_check": "on"}, {"migration_check": "off"}, True),
    ({}, {"migration_check": True}, True),  # a native [tool.pytest] table's boolean
    ({}, {"migration_check": "yes"}, True),
    ({}, {"migration_check": "false"}, False),
])
def test_on_off_options_are_booleans(given: dict[str, str | None], ini: dict[str, object],
                                     expected: bool) -> None:
    assert Config.resolve(given, ini, {}, Path("/repo")).migration_check is expected


BOUNDS = {"calls": Bound(100, 1_000_000), "skew": Bound(0.0, 3.0, integer=False)}


@pytest.mark.parametrize(("data", "message"), [
    ("calls = -5\nskew = 1.0", "p.data.calls: -5 is outside the accepted range 100..1e+06"),
    ("calls = 10_000_000_000\nskew = 1.0", "p.data.calls: 10000000000 is outside"),
    ("calls = 500", "p.data.skew: missing"),
    ("calls = 500\nskew = 1.0\nrows = 3", "p.data.rows: unknown field"),
    ("calls = 5.5\nskew = 1.0", "p.data.calls: must be an integer"),
])
def test_absurd_profiles_are_refused(tmp_path: Path, data: str, message: str) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text(f"[p]\n[p.data]\n{data}\n")
    with pytest.raises(ConfigError, match=message.replace("+", r"\+")):
        read_profiles(path, BOUNDS)


def test_repository_profiles_meet_the_data_requirements() -> None:
    project = read_project(REPO / "fixtures", REPO / "scenarios")
    profiles = project.profiles()
    assert {"ci", "dev"} <= set(profiles)
    for name in ("ci", "dev"):
        data = profiles[name].data
        weights = skewed_weights(int(data["tenants"]), float(data["tenant_skew"]))
        assert weights[0] / weights[-1] >= 50, f"{name}: largest tenant not >= 50x smallest"
        assert data["months"] >= 12
    assert profiles["dev"].data["calls"] == 1_000_000
    assert profiles["ci"].planner["jit"] == "off"


def test_unknown_profile_lists_the_known_ones() -> None:
    project = read_project(REPO / "fixtures", REPO / "scenarios")
    with pytest.raises(ConfigError, match="unknown profile 'huge'.*ci, design-100m, dev, tiny"):
        project.profile("huge")


def test_a_project_manifest_pointing_nowhere_is_named(tmp_path: Path) -> None:
    (tmp_path / "project.toml").write_text(
        '[schema]\nmigrations = "nope"\nload_revision = "1"\n'
        '[data]\ngenerator = "g.py"\nprofiles = "p.toml"\n')
    with pytest.raises(ConfigError, match=r"project.toml: schema.migrations: .*nope does not"):
        read_project(tmp_path, tmp_path)


def test_the_projection_and_the_seed_claims_are_read() -> None:
    project = read_project(REPO / "fixtures", REPO / "scenarios")
    assert project.projection.rows["calls"] == 100_000_000
    claim = project.projection.claims["ix_calls_company_id_created_at"]
    assert (claim.bytes_per_row, claim.total) == (16.0, "1.6GB")


def test_a_bad_projection_is_named(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    shutil.copytree(REPO / "fixtures", fixtures, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = fixtures / "project.toml"
    manifest.write_text(manifest.read_text().replace("calls = 100_000_000", "calls = -1"))
    with pytest.raises(ConfigError, match=r"project.toml: projection.rows.calls: must be positive"):
        read_project(fixtures, tmp_path)
