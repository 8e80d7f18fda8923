"""Provisioning: what every server kind shares: how a running server is reached
(ServerInfo), and the harness's own database on it, created marked and always dropped."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psycopg
from psycopg import sql

from harness.errors import ProvisioningError

# The marker lets the harness prove a database is its own before it writes into it.
DATABASE_MARKER = "created by plan-harness"


@dataclass(frozen=True)
class ServerInfo:
    """How to reach a running server as a user allowed to create databases."""

    admin_conninfo: str
    label: str  # e.g. "embedded PostgreSQL 18.6", shown in progress and reports
    log: Path | None = None  # the server's log, when the harness started the server

    def why_it_failed(self) -> str | None:
        """The log line that says why the server stopped serving (a full disk makes a WAL
        write PANIC, and the client sees only a closed connection), or None."""
        if self.log is None or not self.log.is_file():
            return None
        lines = self.log.read_text(errors="replace").splitlines()
        for marker in ("No space left on device", "PANIC:", "FATAL:"):
            found = [line for line in lines if marker in line]
            if found:
                return found[-1].strip()
        return None


class ServerHandle(Protocol):
    """Starts a server on enter, and stops (or leaves) it on exit."""

    def __enter__(self) -> ServerInfo: ...

    def __exit__(self, *exc: object) -> None: ...


class KeepableHandle(ServerHandle, Protocol):
    """A server whose data directory can be kept: `stopped()` shuts it down cleanly, yields
    the directory (consistent on disk), then starts it again."""

    def stopped(self) -> contextlib.AbstractContextManager[Path]: ...


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def redact(dsn: str) -> str:
    """The DSN without its password, fit for messages and reports."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable DSN>"
    if "password" in parts:
        parts["password"] = "***"
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items()})


@dataclass(frozen=True)
class HarnessDatabase:
    """A database the harness created on a server, and so may load and drop."""

    name: str
    conninfo: str
    admin_conninfo: str


@contextlib.contextmanager
def harness_database(server: ServerInfo, *, keep: bool = False) -> Iterator[HarnessDatabase]:
    """Creates a fresh, marked database and drops it afterwards, whatever happened."""
    name = f"plan_harness_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server.admin_conninfo, autocommit=True) as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise ProvisioningError(f"cannot create database {name}: {first_line(exc)}") from None
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(DATABASE_MARKER)
            )
        )
    conninfo = psycopg.conninfo.make_conninfo(server.admin_conninfo, dbname=name)
    try:
        yield HarnessDatabase(name, conninfo, server.admin_conninfo)
    except BaseException:
        # The error that got us here is the one to report: a server that crashed (a full
        # disk) cannot drop the database either, and its own data goes with it.
        if not keep:
            with contextlib.suppress(psycopg.Error):
                drop_database(server.admin_conninfo, name)
        raise
    if not keep:
        try:
            drop_database(server.admin_conninfo, name)
        except psycopg.Error as exc:
            raise ProvisioningError(f"cannot drop database {name}: {first_line(exc)}") from None


def drop_database(admin_conninfo: str, name: str) -> None:
    with psycopg.connect(admin_conninfo, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def assert_harness_owned(conninfo: str) -> None:
    """Refuses to go on unless the database carries the harness's marker."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT current_database(), shobj_description(oid, 'pg_database') "
            "FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    if row[1] != DATABASE_MARKER:
        raise ProvisioningError(
            f"refusing to load into database {row[0]!r}: plan-harness did not create it"
        )
