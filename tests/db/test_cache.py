"""Reuse of built databases: same inputs reuse, any changed input rebuilds, an interrupted
seed never becomes an entry, and the cache is listed and pruned from the CLI."""

from __future__ import annotations

import importlib.metadata
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.build.cache import BuildCache
from support import CliResult, copy_sample_project, default_sigint, run_cli

CLI = [sys.executable, "-m", "harness.cli"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_sample_project(tmp_path / "project", 'plans_profile = "small"\nplans_runs = 2\n')


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def run(project: Path, cache_dir: Path, *args: str) -> CliResult:
    """`plan-harness run` with a cache of the test's own (the test is about that cache), in
    this process."""
    return run_cli("run", "--project-dir", str(project), "--plans-cache-dir", str(cache_dir),
                   *args)


def cache_cli(cache_dir: Path, *args: str) -> str:
    result = run_cli("cache", *args, "--plans-cache-dir", str(cache_dir))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_same_inputs_reuse_and_changed_inputs_rebuild(project: Path, cache_dir: Path) -> None:
    first = run(project, cache_dir)
    assert first.returncode == 0, first.stderr
    assert "load events: 20,000/20,000 rows" in first.stderr
    assert "kept the built database" in first.stderr

    again = run(project, cache_dir)
    assert again.returncode == 0
    assert "reusing the built database" in again.stderr
    assert "load events" not in again.stderr
    document = json.loads((project / "reports" / "results.json").read_text())
    assert document["run"]["cache"].startswith("reused ")
    assert document["run"]["row_counts"] == {"accounts": 4000, "events": 20000}

    assert "load events" in run(project, cache_dir, "--plans-seed", "2").stderr
    # the database at the load revision was kept when the first run seeded it
    assert "reusing the built database" in run(project, cache_dir, "--plans-revision",
                                            "0001").stderr
    generator = project / "fixtures" / "datagen.py"
    generator.write_text(generator.read_text().replace('VERSION = "2"', 'VERSION = "3"'))
    assert "load events" in run(project, cache_dir).stderr

    listing = cache_cli(cache_dir, "list")
    # each seeding keeps the loaded database (0001) and the migrated one (0002)
    assert listing.strip().splitlines()[-1].startswith("6 entries,")
    assert "profile=small seed=2 revision=0002" in listing
    assert "profile=small seed=2 revision=0001" in listing
    # another Faker release draws other vocabularies from the same seed
    assert {e.inputs["faker"] for e in BuildCache(cache_dir).entries()} == {
        importlib.metadata.version("faker")}
    assert cache_cli(cache_dir, "prune").startswith("removed 6 entries")
    assert cache_cli(cache_dir, "list").startswith("0 entries")


def test_refresh_rebuilds_and_off_neither_reads_nor_writes(project: Path,
                                                           cache_dir: Path) -> None:
    assert run(project, cache_dir).returncode == 0
    assert "load events" in run(project, cache_dir, "--plans-cache", "refresh").stderr
    off = run(project, cache_dir, "--plans-cache", "off", "--plans-seed", "9")
    assert "load events" in off.stderr and "kept the built" not in off.stderr
    assert len(BuildCache(cache_dir).entries()) == 2  # loaded (0001) and migrated (0002)


def test_an_interrupted_seed_is_never_reused(project: Path, cache_dir: Path) -> None:
    profiles = project / "fixtures" / "profiles.toml"
    profiles.write_text(profiles.read_text().replace("events = 20000", "events = 5000000"))
    process = subprocess.Popen([*CLI, "run", "--project-dir", str(project),
                                "--plans-cache-dir", str(cache_dir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_sigint)
    assert process.stderr is not None
    for line in process.stderr:
        if "load events" in line:
            break
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode == 130
    assert BuildCache(cache_dir).entries() == []
    assert not any(cache_dir.glob(".incomplete-*"))
