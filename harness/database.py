"""The run's database: at the revision asked for (built, reused, or the DSN's own), with its
statistics and planner settings, one connection to it, the catalog the checks read, and moves
between revisions. Facts about it go into the run's RunFacts."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

import psycopg

from harness.build import datagen
from harness.build import migrations as schema
from harness.build.builder import DatabaseBuilder, move_to_revision
from harness.build.datagen import Progress
from harness.build.distributed import budget_key, schema_project
from harness.build.migration_watch import watch_migration
from harness.errors import ConfigError
from harness.measure.anchors import Anchors
from harness.measure.capacity import index_sizes, table_sizes
from harness.measure.catalog import Catalog, existing_row_counts, read_catalog
from harness.measure.placement import cluster_catalog, cluster_sizes
from harness.measure.planner_settings import apply_planner_settings, server_version
from harness.options import RunOptions
from harness.project.manifest import Profile, Project
from harness.server.needs import ServerNeeds
from harness.server.providers import Provider, provider_for
from harness.statistics.source import StatisticsSource, statistics_option, statistics_source
from harness.verdict import distributed
from harness.verdict.results import DatabaseFacts


class RunDatabase:
    """The run's database; `facts()` says what it is, a copy the caller keeps."""

    def __init__(self, config: RunOptions, project: Project, progress: Progress,
                 stack: contextlib.ExitStack) -> None:
        self.config, self.progress = config, progress
        self._facts, self._stack = DatabaseFacts(), stack
        # with --plans-allow-existing-db on: the profile whose budgets apply ("" for none)
        self._budgets_profile = ""
        self.migration_failures: list[str] = []  # with --plans-migration-check on
        self.catalog: Catalog | None = None
        self.statistics: StatisticsSource | None = None  # --plans-stats or projected
        self.anchors = Anchors(project.anchors, project.manifest, lambda: self.connection)
        self._conn: psycopg.Connection[Any] | None = None
        self.provider: Provider = provider_for(config.server)
        # the schema step: the migration chain this server kind builds with
        self.project = schema_project(project, self.provider)
        self._conninfo = ""
        # a cluster's plans are judged against the project's declared layout
        distributed.use(self.project.distribution if self.provider.distributed else None)

    def facts(self) -> DatabaseFacts:
        return replace(self._facts)

    @property
    def profile(self) -> str:
        """The profile whose budgets apply: the run's, or on an existing database the one
        asked for with --plans-existing-db-budgets (or none). A cluster's budgets are its
        own: keyed `<profile>@<provider>` (a tenant's shard reads far less than one node)."""
        if self._facts.existing_db:
            return self._budgets_profile
        return budget_key(self.config.profile, self.provider)

    @property
    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise RuntimeError("PlanRun.open() must come first")
        return self._conn

    @property
    def existing_db(self) -> bool:
        return self.config.allow_existing_db

    def open(self) -> None:
        started = time.monotonic()
        profile = self.project.profile(self.config.profile)
        if self.provider.distributed and profile.projected is not None:
            raise ConfigError(f"profile {profile.name} plans with projected statistics on one "
                              f"node; it cannot run on --plans-provider {self.provider.name} "
                              "(a cluster's plans are made on its shards)")
        self._facts.revision, self._facts.head = self._target_revision()
        needs = ServerNeeds(statistics_option(self.config.stats, profile), self.existing_db)
        builder = DatabaseBuilder(self.config.build, self.project, self.progress, self._stack,
                                  needs, self.provider)
        if self.provider.checks_role:
            # asked first, before anything is loaded, even a projected profile's source
            needs.refuse_what_is_lacking(self.config.server.dsn)
        if self.existing_db:
            self._attach_existing(builder, profile)
        else:
            self.statistics = statistics_source(self.config.stats, self.config.build,
                                                self.project, profile, self._facts.revision,
                                                self.progress)
            projected = profile.projected
            self._provision(builder, self.project.profile(projected.onto) if projected
                            else profile, self._facts.revision)
        self._facts.ready_seconds = time.monotonic() - started
        self.progress(f"ready in {self._facts.ready_seconds:.1f} s")

    def _target_revision(self) -> tuple[str, str]:
        revisions = schema.Revisions(self.project.migrations_dir)
        target = revisions.resolve(self.config.revision)
        if not revisions.is_at_or_after(target, self.project.load_revision):
            raise ConfigError(f"--plans-revision {self.config.revision} is before the data "
                              f"revision {self.project.load_revision}; nothing to load into")
        return target, revisions.head()

    def _provision(self, builder: DatabaseBuilder, profile: Profile, target: str) -> None:
        # The migration check builds (or reuses) the database at the load revision and
        # migrates it under the writer on every run; a migrated copy is never kept.
        watched = self.config.migration_check
        built = builder.provide(profile, self.project.load_revision if watched else target)
        assert builder.server is not None
        self._facts.server, self._facts.cache = builder.server.label, built.cache
        self._facts.row_counts, self._conninfo = built.row_counts, built.conninfo
        if self.statistics is not None:
            self._facts.statistics = self.statistics.facts
            self.anchors = Anchors(self.project.anchors, self.project.manifest,
                                   lambda: self.connection, self.statistics.loader)
        if watched:
            self._migrate_under_writer(self.project.load_revision, target)
            self._after_migration()
        self._connect(profile)
        self.read_catalog(target, self.profile)

    def _attach_existing(self, builder: DatabaseBuilder, profile: Profile) -> None:
        """--plans-allow-existing-db: the DSN's own database, as it is. Nothing is created,
        migrated or loaded, and the session is read-only; a statement that would write is
        planned instead of run."""
        self._facts.server = builder.start(self.provider.server()).label
        self._conninfo = self.config.server.dsn
        self._facts.revision = schema.current_revision(self._conninfo) or "(no alembic_version)"
        self._connect(profile, read_only=True)
        # No profile describes a database the harness did not load: its budgets apply only
        # when asked for (--plans-existing-db-budgets).
        budgets = self.config.existing_db_budgets
        self._facts.existing_db, self._budgets_profile = True, budgets
        self._facts.row_counts = existing_row_counts(self.connection)
        self.read_catalog(self._facts.revision, budgets)
        rows = ", ".join(f"{table} {count:,}" for table, count in self._facts.row_counts.items())
        self.progress(f"planning against the existing database, read-only, at revision "
                      f"{self._facts.revision}: existing database, not loaded "
                      f"(rows: {rows or 'no tables'}); "
                      + (f"budgets of profile {budgets}" if budgets else
                         "no profile budgets (--plans-existing-db-budgets=PROFILE for one's)"))

    def _connect(self, profile: Profile, *, read_only: bool = False) -> None:
        # The harness PREPAREs its statements itself; psycopg's automatic preparation (after
        # five executions) would add a second, unchecked prepared statement.
        planner = dict(profile.planner)
        if self.statistics is not None:
            planner.update(self.statistics.loader.statistics["planner"])
        # a cluster's workers plan their own parts: the settings go there first
        elsewhere = self.provider.session_settings(self._conninfo, planner)
        conn = psycopg.connect(self._conninfo, autocommit=True, prepare_threshold=None)
        self._stack.callback(conn.close)
        if read_only:
            conn.execute("SET default_transaction_read_only = on")
        captured: Mapping[str, str] = {}
        if self.statistics is not None:
            self.statistics.loader.load(conn)
            # loaded statistics bring the planner settings they were captured with
            captured = self.statistics.loader.statistics["planner"]
        self._facts.planner_settings = {
            **apply_planner_settings(conn, profile.planner, captured), **elsewhere}
        self.provider.prepare_session(conn)
        self._facts.server_version = server_version(conn)
        self._conn = conn

    def read_catalog(self, revision: str, profile: str) -> Catalog:
        """What the checks and the report need to know of the schema at `revision`."""
        catalog = self.catalog = read_catalog(self.connection, revision, profile)
        shards = self.provider.shards(self.connection)
        if shards:  # a cluster: its coordinator's tables are empty shells
            catalog = self.catalog = cluster_catalog(catalog, shards)
        if self.statistics is not None:
            # the scale the plans are made at, not the small database's own row counts
            self._facts.row_counts = {table: round(rows) for table, rows
                                     in sorted(catalog.table_rows.items())
                                     if table in self._facts.row_counts}
        self._facts.projection = self.project.projection.label
        sizes = self.provider.sizes
        self._facts.index_sizes = index_sizes(self.connection, self.project.projection, sizes)
        self._facts.table_sizes = table_sizes(self.connection, self.project.projection, sizes)
        if shards:
            self._facts.index_sizes, self._facts.table_sizes, self._facts.placement = (
                cluster_sizes(self._facts.index_sizes, self._facts.table_sizes, shards,
                              self.project.projection))
        return catalog

    def migrate(self, target: str, *, under_writer: bool, allow_downgrade: bool,
                analyze: bool = True) -> str:
        """Moves to `target` (see PlanRun.migrate); returns the revision it resolved to."""
        current = self._facts.revision
        target = schema.Revisions(self.project.migrations_dir).resolve(target)
        move_to_revision(self._conninfo, self.project, current, target,
                         allow_downgrade=allow_downgrade, progress=self.progress,
                         upgrade=self._migrate_under_writer if under_writer else None)
        self._after_migration(analyze)
        self._facts.revision = target
        self.anchors.forget()  # the writer may have added rows
        return target

    def _migrate_under_writer(self, current: str, target: str) -> None:
        self.progress(f"migration check: {current} -> {target} while "
                      f"inserting (budget {self.config.max_write_wait_ms} ms per write)")
        cost = watch_migration(self._conninfo, self.project.migrations_dir, current,
                               target, self.project.migration_writer,
                               self.config.max_write_wait_ms, self.progress)
        self.migration_failures = cost.failures()
        self._facts.migration = {**asdict(cost), "failures": self.migration_failures}

    def _after_migration(self, analyze: bool = True) -> None:
        """New indexes need statistics: ANALYZE them, or with loaded statistics load them
        again (CREATE INDEX reset the row counts; a VACUUM would read every padded page)."""
        if self._conn is not None and self.statistics is not None:
            self.statistics.loader.load(self._conn)
            return
        if not analyze:
            return
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            datagen.vacuum_analyze(conn, self.progress)

    def close(self) -> None:
        self._conn = None
