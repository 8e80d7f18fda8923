"""Helpers for the tests that install the harness and run the CI files `init --ci` writes
(docs/ci's examples are the same files): the wheelhouse, a fresh virtualenv, the CI tools
from npm, and another team's throw-away git repository whose merge request drops an
index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support import REPO, migration

TOOLS = REPO / "tools" / "ci-tools" / "node_modules" / ".bin"
# The request of these tests drops the index of init's template in a migration of its own.
TEMPLATE_INDEX = "ix_events_account_id_created_at"
DROP_MIGRATION = "0003_drop_feed_index.py"
MIGRATIONS = Path("fixtures") / "migrations" / "versions"
# Few timed runs: the jobs are what is tested here, not the plans.
FEW_RUNS = "--plans-runs 3 --plans-warmup 1"


def ci_tool(name: str) -> Path:
    """A tool of tools/ci-tools (installed now if missing). A machine where it cannot be
    installed (no root for apt-get) skips, except in CI, where a missing tool is a failure."""
    path = TOOLS / name
    if path.exists():
        return path
    result = subprocess.run(["sh", "tools/install-ci-tools.sh"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    if result.returncode == 0 and path.exists():
        return path
    reason = f"{name} could not be installed by tools/install-ci-tools.sh: " + (
        result.stderr.strip().splitlines() or ["no output"])[-1]
    if os.environ.get("CI") or os.geteuid() == 0:
        pytest.fail(reason)
    pytest.skip(reason)


def load_yaml(path: Path) -> Any:
    """A YAML file as data, parsed by the `yaml` npm package of tools/ci-tools (no Python YAML
    parser is a dependency of the project)."""
    script = ("const fs = require('fs'); const YAML = require('yaml');"
              "process.stdout.write(JSON.stringify(YAML.parse(fs.readFileSync(process.argv[1], "
              "'utf8'))));")
    ci_tool("yaml")
    result = subprocess.run(["node", "-e", script, str(path)], capture_output=True, text=True,
                            check=True, env={**os.environ, "NODE_PATH": str(TOOLS.parent)})
    return json.loads(result.stdout)


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com",
                             *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout


@dataclass(frozen=True)
class TeamRepo:
    """Another team's repository, as `plan-harness init team --ci FORGE` (the installed
    wheel's) writes it: `main` as written, `feature` adding a migration that drops the
    template's index, and an `origin` to fetch the target branch from."""

    path: Path

    def checkout(self, branch: str) -> None:
        _git(self.path, "checkout", "-q", branch)

    @classmethod
    def create(cls, root: Path, harness_bin: Path, forge: str) -> TeamRepo:
        work, origin = root / "team", root / "origin.git"
        written = subprocess.run([str(harness_bin / "plan-harness"), "init", "team", "--ci",
                                  forge], cwd=root, capture_output=True, text=True, check=False)
        assert written.returncode == 0, written.stderr
        _git(work, "init", "-q", "-b", "main")
        _git(work, "add", "-A")
        _git(work, "commit", "-qm", "main: the project as init wrote it")
        _git(work, "clone", "-q", "--bare", ".", str(origin))
        # gitlab-ci-local derives the project's path from the remote's URL; git fetches it
        # from the local bare repository
        url = "git@gitlab.example.com:team/plans.git"
        _git(work, "remote", "add", "origin", url)
        _git(work, "config", f"url.{origin}.insteadOf", url)
        _git(work, "fetch", "-q", "origin")
        _git(work, "remote", "set-head", "origin", "main")
        _git(work, "checkout", "-qb", "feature")
        (work / MIGRATIONS / DROP_MIGRATION).write_text(
            migration("0003", "0002", f"DROP INDEX {TEMPLATE_INDEX}",
                      f"CREATE INDEX {TEMPLATE_INDEX} ON events (account_id, created_at)",
                      "drop the feed index"))
        _git(work, "add", "-A")
        _git(work, "commit", "-qm", "feature: drop the feed index")
        return cls(work)


@contextmanager
def team_repo(harness_bin: Path, forge: str) -> Iterator[TeamRepo]:
    """A TeamRepo outside pytest's temporary directory: the embedded server's account must
    reach the job's virtualenv, and pytest keeps its own directory private (0700)."""
    root = Path(tempfile.mkdtemp(prefix="plan-harness-ci-"))
    try:
        yield TeamRepo.create(root, harness_bin, forge)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def build_wheelhouse(directory: Path) -> dict[str, str]:
    """The harness's own sdist and wheel (`python -m build`: the wheel is built from the
    sdist, as a package index's users get it) and the wheels of its build and runtime
    dependencies in `directory`, built once per test session, and the pip settings that
    make a job's `pip install plan-harness==VERSION` (or `-e .`) take them from there: every
    job's install step runs as written, without each resolving and fetching the same
    packages again. Byte-compiling is left to the first import (each job imports a small
    part of what it installs)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    requirements = [*project["build-system"]["requires"], *project["project"]["dependencies"]]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(directory),
                    *requirements], capture_output=True, text=True, check=True, timeout=900)
    pip = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(directory), "PIP_NO_COMPILE": "1"}
    # the isolated build environment takes setuptools from the wheelhouse too
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(directory), str(REPO)],
                           capture_output=True, text=True, timeout=900, check=False,
                           env={**os.environ, **pip})
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return pip


def harness_dists(wheelhouse: dict[str, str]) -> tuple[Path, Path]:
    """The sdist and the wheel of the harness in the session's wheelhouse."""
    directory = Path(wheelhouse["PIP_FIND_LINKS"])
    (sdist,), (wheel,) = directory.glob("plan_harness-*.tar.gz"), directory.glob(
        "plan_harness-*.whl")
    return sdist, wheel


def install_harness(root: Path, wheelhouse: dict[str, str]) -> Path:
    """A fresh virtualenv at `root`, outside the checkout, with the harness installed from
    the wheelhouse by name, as another repository installs it; returns its bin/."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
    installed = subprocess.run([str(root / "bin" / "pip"), "install", "-q", "plan-harness"],
                               capture_output=True, text=True, timeout=600, check=False,
                               env=job_environment(wheelhouse), cwd=root)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return root / "bin"


def job_environment(pip: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what the test run itself set (its private seed
    cache, pytest's variables): a job sees what a CI runner's shell would; `pip` says where
    its installs find their packages (build_wheelhouse)."""
    return {**{k: v for k, v in os.environ.items()
               if k != "PLAN_HARNESS_CACHE_DIR" and not k.startswith("PYTEST")}, **(pip or {})}
