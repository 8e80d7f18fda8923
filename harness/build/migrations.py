"""Schema: applies a project's Alembic migrations to a database, up to head or a named
revision, and answers what a revision is."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from harness.errors import SchemaError


@dataclass(frozen=True)
class Revisions:
    """The migration chain of one project."""

    migrations_dir: Path

    def script(self) -> ScriptDirectory:
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
) -> AlembicConfig:
    config = AlembicConfig(stdout=io.StringIO())
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["connection"] = connection
    return config


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
    with _engine_for(conninfo) as engine, engine.connect() as connection:
        if on_connect is not None:
            on_connect(connection)
        config = _alembic_config(migrations_dir, connection)
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
