"""The engine's structure as the tools see it: git tracks every engine file, every engine
package has its __init__.py, the layers contract holds and catches an upward import, and the
command line starts without the heavy packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

HARNESS = REPO / "harness"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
HEAVY = ("sqlalchemy", "alembic", "psycopg", "jinja2")


def test_git_ignores_no_file_of_the_engine() -> None:
    # `build/` once matched harness/build/ too: a new file there was left out of git add
    result = subprocess.run(["git", "check-ignore", "harness/build/x.py", "harness/build/new.py"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""


def test_every_engine_package_has_its_init() -> None:
    folders = [p for p in HARNESS.rglob("*") if p.is_dir() and any(p.glob("*.py"))
               and "project_template" not in p.relative_to(HARNESS).parts]
    assert folders, "no engine package found"
    missing = [str(p.relative_to(REPO)) for p in folders if not (p / "__init__.py").exists()]
    assert missing == []


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # the copy comes first on the path, so the contract is checked against it
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, check=False)


@pytest.fixture
def engine_copy(tmp_path: Path) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} missing: pip install -e '.[dev]' installs import-linter")
    shutil.copytree(HARNESS, tmp_path / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layers_contract_holds_on_the_tree(engine_copy: Path) -> None:
    result = _lint_imports(engine_copy)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(engine_copy: Path) -> None:
    providers = engine_copy / "harness" / "server" / "providers.py"
    providers.write_text(providers.read_text() + "\nimport harness.run  # upward, on purpose\n")
    result = _lint_imports(engine_copy)
    assert result.returncode != 0
    assert "harness.server is not allowed to import harness.run" in result.stdout


def test_help_imports_no_driver_alembic_or_jinja() -> None:
    probe = ("import sys\nfrom harness.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert "usage: plan-harness" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"
