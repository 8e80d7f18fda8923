"""The package another repository installs: `python -m build` makes an sdist and a wheel
(built from the sdist) that `twine check` accepts, the wheel holds everything the CLI
needs, and the installed wheel runs in a fresh virtualenv outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from ci_examples import harness_dists, job_environment

from harness import __version__
from harness.project.scaffold import template_files
from support import REPO

HARNESS = REPO / "harness"


def test_twine_accepts_the_sdist_and_the_wheel(wheelhouse: dict[str, str]) -> None:
    sdist, wheel = harness_dists(wheelhouse)
    assert wheel.name == f"plan_harness-{__version__}-py3-none-any.whl"
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist),
                              str(wheel)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2


def test_the_wheel_holds_everything_the_cli_needs(wheelhouse: dict[str, str]) -> None:
    _, wheel = harness_dists(wheelhouse)
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {f"{p.relative_to(REPO).as_posix()}" for p in HARNESS.rglob("__init__.py")}
    modules = {p.relative_to(REPO).as_posix() for p in HARNESS.rglob("*.py")
               if "project_template" not in p.parts}
    template = {f"harness/project_template/{name}" for name in template_files()}
    data = {p.relative_to(REPO).as_posix() for folder in ("report/templates", "project/ci")
            for p in (HARNESS / folder).iterdir()}
    wanted = packages | modules | template | data | {
        "harness/report/results.schema.json", "harness/py.typed"}
    assert wanted - names == set()
    # nothing a run or a test of the checkout leaves behind
    assert [n for n in names if "__pycache__" in n or "/reports/" in n] == []
    entry_points = zipfile.ZipFile(wheel).read(
        f"plan_harness-{__version__}.dist-info/entry_points.txt").decode()
    assert "plan-harness = harness.cli:main" in entry_points
    assert "plan_harness = harness.plugin" in entry_points


def test_the_installed_wheel_runs_outside_the_checkout(installed_harness: Path,
                                                       wheelhouse: dict[str, str],
                                                       tmp_path: Path) -> None:
    environment = job_environment(wheelhouse)
    version = subprocess.run([str(installed_harness / "plan-harness"), "--version"],
                             cwd=tmp_path, capture_output=True, text=True, check=False,
                             env=environment)
    assert (version.returncode, version.stdout) == (0, f"plan-harness {__version__}\n")
    where = subprocess.run([str(installed_harness / "python"), "-c",
                            "import harness; print(harness.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True, env=environment)
    assert Path(where.stdout.strip()).is_relative_to(installed_harness.parent)
    written = subprocess.run([str(installed_harness / "plan-harness"), "init", "team"],
                             cwd=tmp_path, capture_output=True, text=True, check=False,
                             env=environment)
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in (tmp_path / "team").iterdir()) == [
        ".gitignore", "alembic.ini", "conftest.py", "fixtures", "pyproject.toml", "scenarios"]
