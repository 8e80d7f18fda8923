"""tools/install-ci-tools.sh leaves gitlab-ci-local and action-validator on PATH, so the
command docs/ci/README.md gives (`gitlab-ci-local JOB` in a project) runs as written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ci_examples import ci_tool

from support import REPO


def test_the_tools_are_on_path_after_the_install(tmp_path: Path) -> None:
    ci_tool("gitlab-ci-local")  # installed (or skipped as the other CI tests are)
    bin_dir = tmp_path / "bin"
    path = f"{bin_dir}:{os.environ['PATH']}"
    env = {**os.environ, "CI_TOOLS_BIN": str(bin_dir), "PATH": path}
    installed = subprocess.run(["sh", "tools/install-ci-tools.sh"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=600, check=False)
    assert (installed.returncode, installed.stderr) == (0, "")
    for command in ("gitlab-ci-local --version", "action-validator --help"):
        ran = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120, check=False)
        assert ran.returncode == 0, f"{command}: {ran.stderr}"


def test_a_directory_off_path_is_named(tmp_path: Path) -> None:
    ci_tool("gitlab-ci-local")
    bin_dir = tmp_path / "elsewhere"
    installed = subprocess.run(["sh", "tools/install-ci-tools.sh"], cwd=REPO,
                               env={**os.environ, "CI_TOOLS_BIN": str(bin_dir)},
                               capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0
    assert installed.stderr == (
        f"install-ci-tools: linked gitlab-ci-local and action-validator into {bin_dir}, which "
        f'is not on PATH: export PATH="{bin_dir}:$PATH"\n')
    assert (bin_dir / "gitlab-ci-local").resolve().is_file()
