"""The plugin and the CLI resolve the same settings from every pytest config file, and name
a bad value alike (pytest runs in this process, through pytester)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from harness.cli import resolve_settings
from harness.errors import ConfigError
from support import copy_sample_project

# The conftest of a project whose pytest run records the settings the plugin resolved.
RECORDING_CONFTEST = """
import dataclasses
import json
from pathlib import Path

from harness.plugin import SESSION

HERE = Path(__file__).parent


def pytest_plans_locations(config):
    return {"scenarios": HERE / "scenarios", "fixtures": HERE / "fixtures"}


def pytest_collection_finish(session):
    settings = session.config.stash[SESSION].settings
    (HERE / "settings.json").write_text(
        json.dumps({k: str(v) for k, v in dataclasses.asdict(settings).items()}))
"""
PLANS = {"plans_profile": "small", "plans_runs": 7, "plans_warmup": 0,
         "plans_buffer_tolerance": 2.5, "plans_cache": "off"}


def _ini_lines() -> str:
    return "".join(f"{key} = {value}\n" for key, value in PLANS.items())


def _toml_lines() -> str:
    return "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in PLANS.items())


@pytest.mark.parametrize(("name", "text"), [
    ("pytest.ini", "[pytest]\n" + _ini_lines()),
    ("pytest.toml", "[pytest]\n" + _toml_lines()),
    ("pyproject.toml", "[tool.pytest]\n" + _toml_lines()),
    ("pyproject.toml", "[tool.pytest.ini_options]\n" + _toml_lines()),
    ("tox.ini", "[pytest]\n" + _ini_lines()),
    ("setup.cfg", "[tool:pytest]\n" + _ini_lines()),
])
def test_the_cli_reads_the_settings_pytest_reads(pytester: pytest.Pytester, name: str,
                                                 text: str) -> None:
    copy_sample_project(pytester.path)
    pytester.makeconftest(RECORDING_CONFTEST)
    (pytester.path / name).write_text(text)
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stderr.str()
    by_pytest = json.loads((pytester.path / "settings.json").read_text())
    by_cli = resolve_settings(pytester.path, {})
    assert (by_cli.runs, by_cli.warmup, by_cli.buffer_tolerance, by_cli.profile) == (
        7, 0, 2.5, "small")
    assert {k: str(v) for k, v in dataclasses.asdict(by_cli).items()} == by_pytest


def test_a_bad_value_in_a_config_file_is_named_alike(pytester: pytest.Pytester) -> None:
    copy_sample_project(pytester.path)
    pytester.makeconftest(RECORDING_CONFTEST)
    (pytester.path / "pytest.ini").write_text("[pytest]\nplans_runs = many\n")
    message = "plans_runs (pytest.ini): 'many' is not a whole number"
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: plan-harness: {message}"])
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_settings(pytester.path, {})
