"""Providers come from one registry: the built-in kinds by name, a kind of one's own by
module:Class, anything else refused in one line; the engine reads their capabilities."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from harness.config import Config
from harness.errors import ConfigError
from harness.measure.capacity import _INDEXES, _TABLES, _sized
from harness.server.providers import (
    BUILT_IN,
    Provider,
    ServerOptions,
    SizeFunctions,
    provider_class,
    provider_for,
)
from harness.server.provisioning import ServerHandle


class LocalProvider(Provider):
    """A kind the harness does not ship, loaded by dotted path."""

    name = "local-test"
    reusable_builds = False

    def server(self) -> ServerHandle:
        raise NotImplementedError


class Unnamed(LocalProvider):
    """Declares no name of its own."""


class Bare(Provider):
    """Declares a name but no server."""

    name = "bare"


@pytest.fixture
def own_module(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("own_servers")
    module.LocalProvider = LocalProvider  # type: ignore[attr-defined]
    module.NotAProvider = object  # type: ignore[attr-defined]
    module.Unnamed = Unnamed  # type: ignore[attr-defined]
    module.Bare = Bare  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "own_servers", module)
    return "own_servers"


def test_built_in_kinds_resolve_with_their_capabilities() -> None:
    kinds = {name: provider_class(name) for name in BUILT_IN}
    assert {k.name for k in kinds.values()} == {"embedded", "dsn", "testcontainers", "citus"}
    assert [n for n, k in kinds.items() if k.distributed] == ["citus"]
    assert [n for n, k in kinds.items() if k.reusable_builds] == ["embedded", "citus"]
    assert [n for n, k in kinds.items() if k.may_use_existing_database] == ["dsn"]
    assert [n for n, k in kinds.items() if k.checks_role] == ["dsn"]


def test_a_kind_of_ones_own_loads_by_dotted_path(own_module: str) -> None:
    provider = provider_for(ServerOptions(provider=f"{own_module}:LocalProvider"))
    assert isinstance(provider, LocalProvider)
    with pytest.raises(NotImplementedError, match="local-test provider keeps no built"):
        provider.keepable_server()


@pytest.mark.parametrize(("value", "message"), [
    ("docker", "--plans-provider: unknown value 'docker' (choose from embedded, dsn, "
               "testcontainers, citus, or give module:Class)"),
    ("own_servers:Missing", "--plans-provider: cannot load 'own_servers:Missing'"),
    ("own_servers:NotAProvider", "--plans-provider: 'own_servers:NotAProvider' is not a "
                                 "harness.server.providers.Provider"),
    ("no_such_module_here:X", "--plans-provider: cannot load 'no_such_module_here:X'"),
    (":Nope", "--plans-provider: cannot load ':Nope': Empty module name"),
    (".rel:X", "--plans-provider: cannot load '.rel:X'"),
    ("own_servers:Unnamed", "--plans-provider: 'own_servers:Unnamed' must declare its own "
                            "`name` and define server()"),
    ("own_servers:Bare", "--plans-provider: 'own_servers:Bare' must declare its own `name` "
                         "and define server()"),
])
def test_an_unknown_kind_is_refused_in_one_line(own_module: str, value: str,
                                                message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        provider_class(value)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_config_refuses_what_the_kind_lacks() -> None:
    with pytest.raises(ConfigError, match="--plans-provider dsn needs --plans-dsn"):
        Config.resolve({"provider": "dsn"}, {}, {}, Path("."))
    with pytest.raises(ConfigError, match="allow-existing-db on needs --plans-provider dsn"):
        Config.resolve({"allow_existing_db": "on"}, {}, {}, Path("."))


def test_config_builds_the_narrow_options() -> None:
    config = Config.resolve({"provider": "dsn", "dsn": "host=db", "seed": "7", "runs": "4"},
                            {}, {}, Path("."))
    options = config.run_options(migration_check=True)
    assert options.server == ServerOptions("dsn", "host=db", config.image)
    assert (options.seed, options.runs, options.migration_check) == (7, 4, True)
    assert options.build.cache_dir == config.cache_dir


def test_sizes_come_from_the_providers_functions() -> None:
    class ShardedProvider(LocalProvider):
        sizes = SizeFunctions("shards_relation_size", "shards_table_size", "shards_indexes_size")

    query = _sized(_TABLES, ShardedProvider.sizes).as_string(None)
    assert '"shards_relation_size"(c.oid), "shards_table_size"(c.oid)' in query
    assert '"shards_indexes_size"(c.oid)' in query and "pg_relation_size" not in query
    assert '"pg_relation_size"(ix.oid)' in _sized(_INDEXES, Provider.sizes).as_string(None)


def test_explain_is_issued_as_the_provider_says() -> None:
    assert provider_class("embedded").explain.measured == (
        "ANALYZE, BUFFERS, SETTINGS, FORMAT JSON")
    assert provider_class("dsn").explain is provider_class("testcontainers").explain
