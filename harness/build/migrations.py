"""Schema: applies a project's Alembic migrations to a database, up to head or a named
revision, and answers what a revision is."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from psycopg.conninfo import conninfo_to_dict

from harness.errors import SchemaError
from harness.project.alembic_ini import alembic_ini_for


@dataclass(frozen=True)
class Revisions:
    """The migration chain of one project."""

    migrations_dir: Path

    def script(self) -> ScriptDirectory:
        with _app_directory(self.migrations_dir):
            return ScriptDirectory.from_config(_alembic_config(self.migrations_dir, None))

    def resolve(self, revision: str) -> str:
        """The revision id that `revision` ("head", an id or a unique prefix) names."""
        try:
            script = self.script()
            found = script.get_revision(revision)
        except CommandError as exc:
            raise SchemaError(
                f"unknown revision {revision!r} in {self.migrations_dir}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        if found is None:
            raise SchemaError(f"revision {revision!r} names no migration in {self.migrations_dir}")
        if isinstance(found, tuple):
            raise SchemaError(f"revision {revision!r} is ambiguous in {self.migrations_dir}")
        return found.revision

    def head(self) -> str:
        return self.resolve("head")

    def is_at_or_after(self, revision: str, ancestor: str) -> bool:
        """True when `ancestor` is `revision` itself or lies below it in the chain."""
        target, wanted = self.resolve(revision), self.resolve(ancestor)
        return any(r.revision == wanted for r in self.script().walk_revisions("base", target))

    def chain_down(self, revision: str, lowest: str) -> list[str]:
        """`revision`, then each revision below it, down to `lowest` (included)."""
        chain = []
        for script in self.script().walk_revisions(self.resolve(lowest), self.resolve(revision)):
            chain.append(script.revision)
        return chain

    def files_up_to(self, revision: str) -> list[Path]:
        """The migration files of `revision` and every revision below it: what a database at
        that revision depends on (a later migration does not change it)."""
        scripts = self.script().walk_revisions("base", self.resolve(revision))
        return sorted(Path(s.path) for s in scripts if s.path)


def _alembic_config(
    migrations_dir: Path,
    connection: sqlalchemy.Connection | None,
    url: str | None = None,
) -> AlembicConfig:
    """The Alembic config the migrations run under: the application's alembic.ini when
    project.toml names one (else none), this folder as the script location, the harness's
    database as `sqlalchemy.url` (for an env.py that builds its own engine) and its open
    connection in `attributes["connection"]` (for one that takes it)."""
    ini = alembic_ini_for(migrations_dir)
    config = AlembicConfig(file_=str(ini) if ini else None, stdout=io.StringIO())
    config.set_main_option("script_location", str(migrations_dir))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def sqlalchemy_url(conninfo: str) -> str:
    """psycopg's conninfo as a SQLAlchemy URL with psycopg 3 as the driver; a Unix socket
    directory goes in the query, as the psycopg dialect takes it."""
    params = {k: str(v) for k, v in conninfo_to_dict(conninfo).items() if v is not None}
    host, port = params.pop("host", None), params.pop("port", None)
    if host is not None and host.startswith("/"):
        params["host"], host = host, None
    url = sqlalchemy.engine.URL.create(
        "postgresql+psycopg", username=params.pop("user", None),
        password=params.pop("password", None), host=host,
        port=int(port) if port else None, database=params.pop("dbname", None), query=params)
    return url.render_as_string(hide_password=False)


@contextlib.contextmanager
def _app_directory(migrations_dir: Path) -> Iterator[None]:
    """With an application's alembic.ini, Alembic reads it as its command does, from the
    ini's directory: relative script and version locations and `prepend_sys_path` (which
    Alembic puts on sys.path) mean what they mean there. The directory and sys.path are
    restored afterwards."""
    ini = alembic_ini_for(migrations_dir)
    if ini is None:
        yield
        return
    saved_path = list(sys.path)
    try:
        with contextlib.chdir(ini.parent):
            yield
    finally:
        sys.path[:] = saved_path


@contextlib.contextmanager
def _database_url(url: str) -> Iterator[None]:
    """DATABASE_URL names the harness's database while the migrations run (an env.py that
    reads it migrates that one, never the application's own), and is restored after."""
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        yield
    finally:
        if saved is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = saved


@contextlib.contextmanager
def _engine_for(conninfo: str) -> Iterator[sqlalchemy.Engine]:
    # The engine reuses psycopg's own conninfo (which may name a Unix socket directory)
    # instead of translating it into a SQLAlchemy URL.
    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(conninfo),
        poolclass=sqlalchemy.pool.NullPool,
    )
    try:
        yield engine
    finally:
        engine.dispose()


def _quiet_alembic() -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)


OnConnect = Callable[[sqlalchemy.Connection], None]


def _run(conninfo: str, migrations_dir: Path, action: str, revision: str,
         on_connect: OnConnect | None = None) -> None:
    _quiet_alembic()
    url = sqlalchemy_url(conninfo)
    with _engine_for(conninfo) as engine, engine.connect() as connection, \
            _app_directory(migrations_dir), _database_url(url):
        if on_connect is not None:
            on_connect(connection)
        config = _alembic_config(migrations_dir, connection, url)
        try:
            if action == "upgrade":
                command.upgrade(config, revision)
            elif action == "downgrade":
                command.downgrade(config, revision)
            else:
                command.stamp(config, revision)
        except CommandError as exc:
            raise SchemaError(f"alembic {action} {revision}: {str(exc).splitlines()[0]}") from None
        except sqlalchemy.exc.DBAPIError as exc:
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise SchemaError(f"alembic {action} {revision} failed: {detail}") from None
        except Exception as exc:  # a migration script's own error, e.g. a RuntimeError
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SchemaError(f"alembic {action} {revision} failed: {detail}") from None
        connection.commit()


def upgrade(conninfo: str, migrations_dir: Path, revision: str = "head",
            on_connect: OnConnect | None = None) -> None:
    """`on_connect` sees the migration's connection first (to time its statements, say)."""
    _run(conninfo, migrations_dir, "upgrade", revision, on_connect)


def downgrade(conninfo: str, migrations_dir: Path, revision: str) -> None:
    _run(conninfo, migrations_dir, "downgrade", revision)


def stamp(conninfo: str, migrations_dir: Path, revision: str) -> None:
    _run(conninfo, migrations_dir, "stamp", revision)


def current_revision(conninfo: str) -> str | None:
    with psycopg.connect(conninfo) as conn:
        exists = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None
