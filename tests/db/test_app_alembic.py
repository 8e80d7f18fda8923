"""The application's own Alembic, unchanged: project.toml names its directory and its
alembic.ini (examples/app-alembic), and the harness migrates its own database with it for
each shape of env.py an application has: the stock one of `alembic init`
(engine_from_config on sqlalchemy.url, the app's models imported through the ini's
prepend_sys_path), the cookbook's (the connection in config.attributes), and one that
reads DATABASE_URL. The app's own database (in the ini, in DATABASE_URL) is never used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

EXAMPLE = REPO / "examples" / "app-alembic"
THE_APPS_DATABASE = "postgresql+psycopg://app@db.invalid:5432/app"

COOKBOOK = '''
from alembic import context
from sqlalchemy import create_engine

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    connection = engine.connect()
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
'''

DATABASE_URL = '''
import os

from alembic import context
from sqlalchemy import create_engine, pool

from app.models import Base

engine = create_engine(os.environ["DATABASE_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
'''

# an env.py that prints what it saw, then hands over to the shape under test
SHOW = '''
import os, sys
from alembic import context
print("env.py: DATABASE_URL", os.environ.get("DATABASE_URL"), file=sys.stderr)
print("env.py: sqlalchemy.url", context.config.get_main_option("sqlalchemy.url"),
      file=sys.stderr)
'''


def app_copy(root: Path, env_py: str | None) -> Path:
    app = root / "app-alembic"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("__pycache__", "reports"))
    env = app / "alembic" / "env.py"
    env.write_text(SHOW + (env_py if env_py is not None else env.read_text()))
    return app


def run(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args, "--project-dir", str(app / "plans")],
        cwd=app.parent, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "DATABASE_URL": THE_APPS_DATABASE})


@pytest.mark.parametrize("env_py", [None, COOKBOOK, DATABASE_URL],
                         ids=["stock-engine-from-config", "cookbook-connection", "database-url"])
def test_the_apps_alembic_migrates_the_harness_database(tmp_path: Path,
                                                        env_py: str | None) -> None:
    app = app_copy(tmp_path, env_py)
    result = run(app, "run", "--plans-runs", "3", "--plans-warmup", "1")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "0 failed, 0 errors, 0 warnings, 2 passed" in result.stdout
    seen = [line for line in result.stderr.splitlines() if line.startswith("env.py: ")]
    assert seen, result.stderr[-2000:]
    # each migration saw the harness's database, never the app's
    assert all(THE_APPS_DATABASE not in line and "postgresql+psycopg://" in line
               for line in seen), seen
    # the app's migrations and files are as they were
    assert (app / "plans" / "reports" / "index.html").is_file()


def test_database_url_is_restored_after_the_migrations(tmp_path: Path) -> None:
    """In one process: the harness sets DATABASE_URL while it migrates, and puts the
    application's back."""
    from support import run_cli

    app = app_copy(tmp_path, DATABASE_URL)
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = THE_APPS_DATABASE
    try:
        result = run_cli("build", "--project-dir", str(app / "plans"))
        assert result.returncode == 0, result.stderr[-3000:]
        assert os.environ["DATABASE_URL"] == THE_APPS_DATABASE
        assert str(app / "plans") not in sys.path and "." not in sys.path[:1]
    finally:
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved


def test_a_missing_alembic_ini_is_one_line(tmp_path: Path) -> None:
    app = app_copy(tmp_path, None)
    (app / "alembic.ini").unlink()
    result = run(app, "validate")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"plan-harness: error: {app / 'plans' / 'fixtures' / 'project.toml'}: "
        f"schema.alembic_ini: {app / 'alembic.ini'} does not exist")


def test_an_older_alembic_ini_without_path_separator_is_read(tmp_path: Path) -> None:
    """Alembic 1.16 and later warn about an ini without path_separator (as every ini
    written before them is); the warning does not make the chain unreadable."""
    app = app_copy(tmp_path, None)
    ini = app / "alembic.ini"
    ini.write_text(ini.read_text().replace("path_separator = os\n", ""))
    result = run(app, "validate")
    assert (result.returncode, result.stdout) == (0, "ok: 1 scenarios, 2 cases, profiles small\n"), \
        result.stderr
