"""Build: the run's database on a server, in one recipe (schema at the load revision, load,
migrate to the target, VACUUM ANALYZE), with builds kept in the cache and reused where the
provider can start a server on a kept data directory."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from harness.build import datagen
from harness.build import migrations as schema
from harness.build.cache import (
    BuildCache,
    CacheEntry,
    files_digest,
    fingerprint,
    human_size,
)
from harness.build.datagen import LoadContext, Progress
from harness.build.distributed import build_on_cluster, distribution_of, schema_project
from harness.build.options import BuildOptions
from harness.errors import ConfigError, HarnessError, SchemaError
from harness.project.manifest import Profile, Project
from harness.server.needs import ServerNeeds
from harness.server.providers import Provider, ServerOptions, provider_for
from harness.server.provisioning import (
    HarnessDatabase,
    KeepableHandle,
    ServerHandle,
    ServerInfo,
    assert_harness_owned,
    harness_database,
)

CACHE_FORMAT = 2  # bump when the way a database is built changes, to retire old entries
# (2: keys and indexes are set aside during the load and rebuilt after it)


@dataclass
class BuildStages:
    """Seconds per stage of one build (what benchmarks of the build report)."""

    schema_s: float = 0.0
    load_s: float = 0.0
    migrate_s: float = 0.0
    vacuum_analyze_s: float = 0.0


@dataclass
class Built:
    """A database ready for a run: how to reach it and what it holds."""

    conninfo: str
    row_counts: dict[str, int] = field(default_factory=dict)
    cache: str = ""  # "reused KEY", "stored KEY", or "" when the cache was not used


def load_data(conninfo: str, project: Project, profile: Profile, seed: int,
              progress: Progress, workers: int | None = None) -> dict[str, int]:
    """Runs the project's generator into a database at the load revision, on `workers`
    sessions at once (default: one per CPU core)."""
    generator = project.generator()
    workers = workers or max(1, os.cpu_count() or 1)
    with psycopg.connect(conninfo) as conn:
        deferred = datagen.DeferredKeys.drop(conn)
        context = LoadContext(conn, profile.data, datagen.check_seed(seed), progress,
                              workers=workers, open_session=lambda: psycopg.connect(conninfo))
        try:
            generator.generate(context)
            conn.commit()
            deferred.rebuild(conn, progress, context.worker_sessions())
        except psycopg.Error as exc:
            # e.g. a schema at the load revision without the table the generator fills, or
            # a generator whose keys are not unique (the key rebuild says so)
            detail = str(exc).strip().splitlines()[0]
            raise SchemaError(f"{project.generator_path}: loading profile {profile.name} "
                              f"failed: {detail}{_missing_table_hint(exc, project)}") from None
        finally:
            context.close()
    return context.row_counts


def _missing_table_hint(exc: psycopg.Error, project: Project) -> str:
    """A table the generator fills that the schema at the load revision lacks: the data is
    loaded before the later migrations run, so the table must come at or before it."""
    if not isinstance(exc, psycopg.errors.UndefinedTable):
        return ""
    found = re.search(r'relation "([^"]+)" does not exist', str(exc))
    table = found.group(1) if found else "the table"
    return (f" (the data is loaded at the load revision {project.load_revision}, "
            f"schema.load_revision in {project.manifest}: {table} must be created at or "
            "before it)")


def build_database(conninfo: str, project: Project, profile: Profile, seed: int, target: str,
                   progress: Progress, *, workers: int | None = None,
                   stages: BuildStages | None = None) -> dict[str, int]:
    """The one build recipe: the schema at the load revision, the profile's data, the
    migrations on to `target`, then VACUUM ANALYZE. Returns the rows loaded per table."""
    stages = stages if stages is not None else BuildStages()
    mark = time.monotonic()
    schema.upgrade(conninfo, project.migrations_dir, project.load_revision)
    stages.schema_s, mark = time.monotonic() - mark, time.monotonic()
    progress(f"schema at {project.load_revision}; loading profile {profile.name} "
             f"with seed {seed}")
    row_counts = load_data(conninfo, project, profile, seed, progress, workers)
    stages.load_s, mark = time.monotonic() - mark, time.monotonic()
    if target != project.load_revision:
        progress(f"migrating to {target}")
        schema.upgrade(conninfo, project.migrations_dir, target)
    stages.migrate_s, mark = time.monotonic() - mark, time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        datagen.vacuum_analyze(conn, progress)
    stages.vacuum_analyze_s = time.monotonic() - mark
    return row_counts


def move_to_revision(conninfo: str, project: Project, current: str, target: str, *,
                     allow_downgrade: bool, progress: Progress,
                     upgrade: Callable[[str, str], None] | None = None) -> None:
    """Upgrades to a later `target` (with `upgrade`, when given: the migration check's way),
    or downgrades to an earlier one with `allow_downgrade` (the mutation proof undoes each
    mutation)."""
    revisions = schema.Revisions(project.migrations_dir)
    forward = target != current and revisions.is_at_or_after(target, current)
    if not forward and not (allow_downgrade and target != current):
        raise ConfigError(f"revision {target} is not after {current}: nothing to migrate")
    if forward and upgrade is not None:
        upgrade(current, target)
        return
    progress(f"migrating {current} -> {target}")
    move = schema.upgrade if forward else schema.downgrade
    move(conninfo, project.migrations_dir, target)


def migrate_and_analyze(conninfo: str, project: Project, current: str, target: str,
                        progress: Progress) -> None:
    progress(f"migrating {current} -> {target}")
    schema.upgrade(conninfo, project.migrations_dir, target)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        datagen.vacuum_analyze(conn, progress)


class DatabaseBuilder:
    """Starts the configured server and gives a database at a revision: from the cache,
    from a kept database at an earlier revision plus the migrations after it, or built.
    Everything it starts is released when `stack` closes."""

    def __init__(self, options: BuildOptions, project: Project, progress: Progress,
                 stack: contextlib.ExitStack, needs: ServerNeeds,
                 provider: Provider | None = None) -> None:
        self.options, self.progress = options, progress
        self.provider: Provider = provider or provider_for(options.server)
        self._source_project = project  # a cluster is loaded from its single-node build
        # the schema step: the migration chain this server kind builds with
        self.project = schema_project(project, self.provider)
        self.needs = needs
        self._stack = stack
        self.server: ServerInfo | None = None

    def provide(self, profile: Profile, target: str) -> Built:
        """The database of `profile` at `target`, on the configured provider."""
        if self.provider.distributed:
            return self._on_cluster(profile, target)
        if self.provider.reusable_builds and self.options.cache != "off":
            return self._with_cache(profile, target)
        server = self.start(self.provider.server())
        database = self._stack.enter_context(harness_database(server))
        return self._build(database, profile, target)

    def _on_cluster(self, profile: Profile, target: str) -> Built:
        """A cluster's database: kept in the cache (a local cluster), or built from the
        single-node build at the load revision (itself from the cache when kept; its server
        stopped after the copy), copied through the coordinator and distributed, then
        migrated to `target`."""
        keeps = self.provider.reusable_builds and self.options.cache != "off" and not (
            self.options.server.dsn)
        if not keeps:
            return self._build_on_cluster(self.provider.server(), profile, target)
        cache = BuildCache(self.options.cache_dir)
        inputs = self.cluster_inputs(profile, target)
        key = fingerprint(inputs)
        with cache.building(key):
            entry = cache.lookup(key) if self.options.cache == "on" else None
            if entry is not None:
                return self._reuse(cache, entry, profile, target)
            cluster = self.provider.keepable_server()
            built = self._build_on_cluster(cluster, profile, target)
            with cluster.stopped() as data_dir:
                stored = cache.store(key, data_dir, inputs, _database_name(built.conninfo),
                                     built.row_counts)
            self.progress(f"kept the built cluster {key} in {cache.root} "
                          f"({human_size(stored.size_bytes)}; --plans-cache off to skip)")
            built.cache = f"stored {key}"
            return built

    def _build_on_cluster(self, handle: ServerHandle, profile: Profile, target: str) -> Built:
        cluster = self.start(handle)  # first: a coordinator that cannot serve is said at once
        with contextlib.ExitStack() as single_node:
            embedded = ServerOptions()
            source = DatabaseBuilder(replace(self.options, server=embedded),
                                     self._source_project, self.progress, single_node,
                                     self.needs, provider_for(embedded)
                                     ).provide(profile, self.project.load_revision)
            database = self._stack.enter_context(harness_database(cluster))
            self.provider.prepare_database(cluster, database.name)
            build_on_cluster(database.conninfo, source.conninfo, self.project, profile, target,
                             self.progress)
        return Built(database.conninfo, dict(source.row_counts))

    def cluster_inputs(self, profile: Profile, target: str) -> dict[str, Any]:
        """A cluster's build: the single-node inputs (the distributed chain's migrations,
        the server with its Citus version), the layout with its shard count, and the
        single-node chain the data is loaded with."""
        return {**self.cache_inputs(profile, target),
                "distribution": distribution_of(self.project).key(profile.name),
                "loaded_with": files_digest([
                    *self._source_project.migrations_dir.glob("*.py"),
                    *schema.Revisions(self._source_project.migrations_dir).files_up_to(
                        self.project.load_revision)])}

    def start(self, handle: ServerHandle) -> ServerInfo:
        server: ServerInfo = self._stack.enter_context(handle)
        self.server = server
        self.progress(f"server: {server.label}")
        self.needs.refuse_what_is_lacking(server.admin_conninfo, "the server")
        return server

    def _build(self, database: HarnessDatabase, profile: Profile, target: str) -> Built:
        assert_harness_owned(database.conninfo)
        try:
            rows = build_database(database.conninfo, self.project, profile, self.options.seed,
                                  target, self.progress)
        except HarnessError as exc:
            cause = self.server.why_it_failed() if self.server else None
            if cause and "server closed the connection" in str(exc):
                raise type(exc)(f"{exc}; the server's log: {cause}") from None
            raise
        return Built(database.conninfo, rows)

    def _with_cache(self, profile: Profile, target: str) -> Built:
        cache = BuildCache(self.options.cache_dir)
        inputs = self.cache_inputs(profile, target)
        key = fingerprint(inputs)
        with cache.building(key):
            entry = cache.lookup(key) if self.options.cache == "on" else None
            if entry is not None:
                return self._reuse(cache, entry, profile, target)
            embedded, built = self._migrated_copy(cache, profile, target)
            with embedded.stopped() as data_dir:
                stored = cache.store(key, data_dir, inputs, _database_name(built.conninfo),
                                     built.row_counts)
            self.progress(f"kept the built database {key} in {cache.root} "
                          f"({human_size(stored.size_bytes)}; --plans-cache off to skip)")
            built.cache = f"stored {key}"
            return built

    def _reuse(self, cache: BuildCache, entry: CacheEntry, profile: Profile,
               target: str) -> Built:
        self.start(self.provider.keepable_server(entry.data_dir))
        self.progress(f"reusing the built database {entry.key} from {cache.root} "
                      f"(profile {profile.name}, seed {self.options.seed}, revision {target})")
        return Built(self._cached_conninfo(entry.database), dict(entry.row_counts),
                     f"reused {entry.key}")

    def _migrated_copy(self, cache: BuildCache, profile: Profile,
                       target: str) -> tuple[KeepableHandle, Built]:
        """A running server with the database at `target`: a copy of the kept database at the
        nearest earlier revision, migrated from there (a new migration costs only its own run,
        not a load), or, with none kept, loaded at the load revision (kept too) and
        migrated."""
        nearest = self._nearest_kept(cache, profile, target)
        if nearest is not None:
            revision, entry = nearest
            embedded = self.provider.keepable_server(entry.data_dir)
            self.start(embedded)
            self.progress(f"starting from kept database {entry.key} at revision {revision}, "
                          "without loading")
            conninfo = self._cached_conninfo(entry.database)
            migrate_and_analyze(conninfo, self.project, revision, target, self.progress)
            return embedded, Built(conninfo, dict(entry.row_counts))
        embedded = self.provider.keepable_server()
        database = self._stack.enter_context(harness_database(self.start(embedded)))
        load_revision = self.project.load_revision
        built = self._build(database, profile, load_revision)
        if target != load_revision:
            loaded = self.cache_inputs(profile, load_revision)
            with embedded.stopped() as data_dir:
                cache.store(fingerprint(loaded), data_dir, loaded, database.name,
                            built.row_counts)
            self.progress(f"kept the loaded database at {load_revision} for later migrations")
            migrate_and_analyze(built.conninfo, self.project, load_revision, target,
                                self.progress)
        return embedded, built

    def _nearest_kept(self, cache: BuildCache, profile: Profile,
                      target: str) -> tuple[str, CacheEntry] | None:
        """The kept database at the revision nearest below `target`, down to the data
        revision (none with --plans-cache refresh: that rebuilds from the data)."""
        if self.options.cache != "on":
            return None
        revisions = schema.Revisions(self.project.migrations_dir)
        for revision in revisions.chain_down(target, self.project.load_revision)[1:]:
            entry = cache.lookup(fingerprint(self.cache_inputs(profile, revision)))
            if entry is not None:
                return revision, entry
        return None

    def _cached_conninfo(self, database: str) -> str:
        assert self.server is not None
        conninfo = psycopg.conninfo.make_conninfo(self.server.admin_conninfo, dbname=database)
        assert_harness_owned(conninfo)
        return conninfo

    def cache_inputs(self, profile: Profile, target: str) -> dict[str, Any]:
        """Everything that shapes the built database; any change gives another entry."""
        generator = self.project.generator()
        return {
            "format": CACHE_FORMAT,
            "postgres": self.provider.build_version(),
            "revision": target,
            "load_revision": self.project.load_revision,
            # env.py and the chain up to the target only: a new later migration keeps the
            # entry valid, so a migration's pull request reuses the loaded data
            "migrations": files_digest([
                *self.project.migrations_dir.glob("*.py"),
                *schema.Revisions(self.project.migrations_dir).files_up_to(target),
                *([self.project.alembic_ini] if self.project.alembic_ini else [])]),
            "profile": profile.name,
            "data": dict(profile.data),
            "generator": f"{generator.VERSION}/{files_digest([self.project.generator_path])}",
            # the generator's vocabularies come from Faker: another release, other names
            "faker": importlib.metadata.version("faker"),
            "seed": self.options.seed,
        }


def _database_name(conninfo: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"])
