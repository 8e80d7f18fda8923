"""Providers: where PostgreSQL comes from. A server kind is one module with one Provider
class, registered by name (`--plans-provider embedded`) or loaded by dotted path
(`--plans-provider mypackage.servers:MyProvider`) for a kind the harness does not ship.
The engine asks a provider what it can do; it never compares a provider's name."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import ConfigError

if TYPE_CHECKING:
    import psycopg

    from harness.server.provisioning import KeepableHandle, ServerHandle, ServerInfo

DEFAULT_CONTAINER_IMAGE = "postgres:18"  # pinned major: plans change between majors

# The kinds the harness ships, by the module that registers each: imported on first use, so
# that naming a provider costs no import of a driver or of Docker's client.
BUILT_IN = {
    "embedded": "harness.server.embedded",
    "dsn": "harness.server.dsn",
    "testcontainers": "harness.server.container",
    "citus": "harness.server.citus",
}
_REGISTERED: dict[str, type[Provider]] = {}


@dataclass(frozen=True)
class ExplainForm:
    """How EXPLAIN is issued on a server kind: the options of a measured plan, and of a plan
    only (a distributed server may refuse some of them)."""

    measured: str = "ANALYZE, BUFFERS, SETTINGS, FORMAT JSON"
    planned: str = "SETTINGS, FORMAT JSON"


PLAIN_EXPLAIN = ExplainForm()


@dataclass(frozen=True)
class SizeFunctions:
    """Where a server kind's sizes come from: the SQL functions that take a relation's oid
    and give its main fork, its table with TOAST and maps, and its indexes, in bytes (a
    distributed server sums its shards with functions of its own)."""

    relation: str = "pg_relation_size"
    table: str = "pg_table_size"
    indexes: str = "pg_indexes_size"


LOCAL_SIZES = SizeFunctions()


@dataclass(frozen=True)
class ShardPlacement:
    """One piece of a table on a sharded server: its shard id, the node holding it, its rows
    (the node's estimate) and its bytes with indexes."""

    table: str
    shard_id: int
    node: str
    rows: int
    size_bytes: int


@dataclass(frozen=True)
class ServerOptions:
    """The settings a provider reads (built by the front end's config)."""

    provider: str = "embedded"
    dsn: str = ""
    image: str = DEFAULT_CONTAINER_IMAGE


class Provider:
    """One server kind. Capabilities are class attributes, read by the builder and the run's
    database instead of the kind's name; the defaults describe a plain server the harness
    did not start but may create its own database on."""

    name: ClassVar[str]
    # A built database can be kept (the server stopped, its data directory copied) and a
    # later run can start a server on a copy: the build cache works with this kind only.
    reusable_builds: ClassVar[bool] = False
    # The harness may plan on a database it did not build (--plans-allow-existing-db).
    may_use_existing_database: ClassVar[bool] = False
    # Someone else's server: the role's right to create the harness's database and the
    # version's features are checked before any loading.
    checks_role: ClassVar[bool] = False
    # A sharded cluster (Citus): the schema is the project's [distribution] chain, data is
    # copied in and distributed, and rows and sizes live in the shards.
    distributed: ClassVar[bool] = False
    explain: ClassVar[ExplainForm] = PLAIN_EXPLAIN
    sizes: ClassVar[SizeFunctions] = LOCAL_SIZES

    def __init__(self, options: ServerOptions) -> None:
        self.options = options

    def server(self) -> ServerHandle:
        """A context manager that starts (or reaches) the server and releases it."""
        raise NotImplementedError

    def keepable_server(self, data_from: Path | None = None) -> KeepableHandle:
        """With `reusable_builds`: a server whose data directory can be kept, new or started
        on a copy of a kept one (`data_from`)."""
        raise NotImplementedError(f"the {self.name} provider keeps no built databases")

    def build_version(self) -> str:
        """The server's version as a kept build's key reads it (with `reusable_builds`)."""
        raise NotImplementedError(f"the {self.name} provider keeps no built databases")

    def prepare_database(self, server: ServerInfo, name: str) -> None:
        """Makes the harness's new database `name` on `server` ready for the schema (a
        distributed kind makes it a database of the cluster's on every node)."""

    def session_settings(self, conninfo: str, settings: Mapping[str, str]) -> dict[str, str]:
        """Where plans are made apart from the session (a cluster's workers): applies the
        planner `settings` there, before the run's session opens, and returns them as that
        place reports them (none on one server: the session's own settings are the ones)."""
        return {}

    def measured_modes(self, modes: Sequence[str]) -> tuple[str, ...]:
        """The plan modes worth measuring on this kind, of the ones a scenario asks for."""
        return tuple(modes)

    def prepare_session(self, conn: psycopg.Connection[Any]) -> None:
        """Readies the run's session for EXPLAIN on this kind (nothing on one server)."""

    def shards(self, conn: psycopg.Connection[Any]) -> list[ShardPlacement]:
        """Where the tables' rows live, read from the server's catalogs (none on one node)."""
        return []

    def migrations_dir(self, default: Path) -> Path:
        """The migration chain that builds the schema on this kind (the project's own by
        default; a distributed kind may declare another)."""
        return default


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: makes a provider known by its `name`."""
    _REGISTERED[cls.name] = cls
    return cls


def provider_class(name: str, flag: str = "--plans-provider") -> type[Provider]:
    """The provider registered as `name`, a built-in one, or `module:Class`; a name that
    is none of them is refused in one line."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in BUILT_IN:
        importlib.import_module(BUILT_IN[name])
        return _REGISTERED[name]
    if ":" not in name:
        raise ConfigError(f"{flag}: unknown value {name!r} (choose from "
                          f"{', '.join(BUILT_IN)}, or give module:Class)")
    module_name, _, class_name = name.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    # ValueError: an empty module name; TypeError: a relative one (".servers")
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise ConfigError(f"{flag}: cannot load {name!r}: {exc}") from None
    if not (isinstance(found, type) and issubclass(found, Provider)):
        raise ConfigError(f"{flag}: {name!r} is not a harness.server.providers.Provider")
    # its own name: one inherited would label its runs as another kind's
    if found.server is Provider.server or "name" not in vars(found):
        raise ConfigError(f"{flag}: {name!r} must declare its own `name` and define server() "
                          "(docs/workflows.md, Providers)")
    return found


def provider_for(options: ServerOptions) -> Provider:
    return provider_class(options.provider)(options)
