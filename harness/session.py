"""Session: one run of the pipeline, profile -> database -> scenarios -> plans and timings ->
verdicts, shared by the pytest plugin and the CLI. It owns the server and database and always
releases them."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness import datagen, schema
from harness.baseline import Baseline, load_baseline, render_baseline
from harness.cache import CacheEntry, SeedCache, files_digest, fingerprint, human_size
from harness.capacity import IndexSize, TableSize, index_sizes, table_sizes
from harness.checks import (
    SHOWN_INFO,
    Catalog,
    Context,
    Finding,
    ModeReference,
    Reference,
    Verdict,
    error_verdict,
    evaluate,
    latency_suspects,
)
from harness.config import Config
from harness.datagen import Progress, SeedContext
from harness.environment import run_environment
from harness.errors import (
    ConfigError,
    HarnessError,
    ProvisioningError,
    ScenarioError,
    SchemaError,
)
from harness.explain import ModeMeasurement, bind_order, measure
from harness.files import write_atomically
from harness.gate import canary_noise
from harness.migration_watch import watch_migration
from harness.project import Profile, Project, Projected
from harness.provisioning import (
    EmbeddedServer,
    HarnessDatabase,
    ServerInfo,
    ServerProvider,
    assert_harness_owned,
    embedded_server_version,
    harness_database,
    redact,
    server_provider,
)
from harness.scenarios import AnchorRef, Case, ParamValue, Scenario, load_scenarios
from harness.stats import capture, fidelity_note, gates, read_statistics, scaled
from harness.stats_load import StatisticsLoader, version_refusal

STATEMENT_TIMEOUT = "60s"  # bounds every scenario query
CACHE_FORMAT = 2  # bump when the way a database is built changes, to retire old entries
# (2: keys and indexes are set aside during the load and rebuilt after it)


@dataclass(frozen=True)
class CaseResult:
    scenario: Scenario
    case: Case
    values: Mapping[str, Any]
    measurements: tuple[ModeMeasurement, ...]
    verdict: Verdict


@dataclass
class RunFacts:
    """What the report needs to say about the run as a whole."""

    server: str = ""
    server_version: str = ""
    profile: str = ""
    seed: int = 0
    revision: str = ""
    head: str = ""
    started_at: str = ""
    seed_seconds: float = 0.0
    row_counts: dict[str, int] = field(default_factory=dict)
    planner_settings: dict[str, str] = field(default_factory=dict)
    cache: str = ""  # "reused KEY", "stored KEY", or "" when the cache was not used
    projection: str = ""
    index_sizes: list[IndexSize] = field(default_factory=list)
    table_sizes: list[TableSize] = field(default_factory=list)
    # the design document's per-endpoint claims, for before/after reports
    endpoint_claims: dict[str, dict[str, str]] = field(default_factory=dict)
    write_cost: dict[str, Any] | None = None  # measured by plan-harness capacity-review
    migration: dict[str, Any] | None = None  # with --plans-migration-check on
    index_growth: dict[str, Any] | None = None  # measured by plan-harness capacity-review
    # with --plans-stats: the file and where its statistics came from; plans only
    statistics: dict[str, str] | None = None
    # how much change against a reference regresses (harness.gate.Policy)
    policy: dict[str, float] = field(default_factory=dict)
    # items of the reference (a baseline file) that the project no longer has
    missing: list[str] = field(default_factory=list)
    # with --plans-allow-existing-db on: the DSN's own database, which the harness did not
    # seed; `profile` is then the profile whose budgets were asked for, or ""
    existing_db: bool = False
    # versions, git commit and more (harness.environment.run_environment)
    environment: dict[str, Any] = field(default_factory=dict)


class PlanRun:
    """Provisions and seeds on `open()`, measures cases on `run_case()`, cleans up on
    `close()`; use it as a context manager."""

    def __init__(self, config: Config, project: Project, progress: Progress) -> None:
        self.config = config
        self.project = project
        self.progress = progress
        self.facts = RunFacts(profile=config.profile, seed=config.seed,
                              policy=asdict(config.policy))
        self.results: list[CaseResult] = []
        self._stack = contextlib.ExitStack()
        self._conn: psycopg.Connection[Any] | None = None
        self._catalog: Catalog | None = None
        self._anchors: dict[str, Any] = {}
        self._server: ServerInfo | None = None
        self.migration_failures: list[str] = []  # with --plans-migration-check on
        self._conninfo = ""
        self.baseline: Baseline | None = None  # with --plans-baseline
        # item id -> what an earlier run measured of it (a baseline, or the base revision)
        self.references: dict[str, Reference] = {}
        self._canary_base_ms: float | None = None
        self._statistics: StatisticsLoader | None = None  # with --plans-stats

    def __enter__(self) -> PlanRun:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        profile = self.project.profile(self.config.profile)
        revisions = schema.Revisions(self.project.migrations_dir)
        target = revisions.resolve(self.config.revision)
        if not revisions.is_at_or_after(target, self.project.load_revision):
            raise ConfigError(
                f"--plans-revision {self.config.revision} is before the data "
                f"revision {self.project.load_revision}; nothing to seed into"
            )
        self.facts.revision, self.facts.head = target, revisions.head()
        self.facts.started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.facts.environment = run_environment(self.project.fixtures_dir,
                                                 self.project.checks.misestimate_factor)
        self.facts.endpoint_claims = {
            endpoint: asdict(claim)
            for endpoint, claim in self.project.projection.endpoints.items()
        }
        try:
            if self.config.provider == "dsn":
                # a server reached by DSN is asked first, before any seeding, even before a
                # projected profile seeds its source profile
                self._refuse_what_the_server_lacks(self.config.dsn)
            if self.existing_db:
                self._attach_existing(profile)
                return
            self._statistics = self._statistics_to_load(profile)
            projected = profile.projected
            self._provision(self.project.profile(projected.onto) if projected else profile,
                            target)
        except BaseException:
            try:
                self.close()
            except HarnessError as cleanup:
                # The first error is the one to report (a full disk crashed the server, so
                # the database could not be dropped either); the cleanup's is said as well.
                self.progress(f"cleanup after the error failed too: {cleanup}")
            raise

    def _needs_statistics(self) -> str | None:
        """The option that loads statistics into this run's database, or None."""
        if self.config.stats is not None:
            return "--plans-stats"
        if self.project.profile(self.config.profile).projected is not None:
            return f"--plans-profile {self.config.profile} (projected)"
        return None

    def _refuse_what_the_server_lacks(self, conninfo: str, name: str = "--plans-dsn") -> None:
        """Right after connecting: a feature the server's version lacks, or a role that may
        not create the harness's database, is refused before anything is seeded."""
        try:
            with psycopg.connect(conninfo, connect_timeout=10) as conn:
                row = conn.execute("SELECT current_user, rolcreatedb OR rolsuper FROM pg_roles "
                                   "WHERE rolname = current_user").fetchone()
                version = conn.info.server_version
        except psycopg.Error as exc:
            raise ProvisioningError(f"cannot connect to {name} {redact(conninfo)}: "
                                    f"{str(exc).strip().splitlines()[0]}") from None
        needs = self._needs_statistics()
        refusal = needs and version_refusal(version, needs)
        if refusal:
            raise ConfigError(refusal)
        if not self.existing_db and version < datagen.MIN_SERVER_VERSION:
            raise ConfigError(
                f"seeding needs PostgreSQL {datagen.MIN_SERVER_VERSION // 10000} or later (its "
                f"helper functions have SQL-standard bodies); this server is "
                f"{version // 10000}.{version % 10000}")
        if not self.existing_db and row is not None and not row[1]:
            raise ProvisioningError(
                f"role {row[0]} at {redact(conninfo)} lacks CREATEDB, and the harness creates "
                f"its own database there: ALTER ROLE {row[0]} CREATEDB, or plan against the "
                "DSN's own database with --plans-allow-existing-db on")

    def _statistics_to_load(self, profile: Profile) -> StatisticsLoader | None:
        """--plans-stats FILE (read, and refused when corrupt, before anything is seeded), or
        a projected profile's: its source profile's statistics, captured and scaled."""
        if profile.projected is not None and self.config.stats is not None:
            raise ConfigError(f"--plans-profile {profile.name} is projected and brings its "
                              "own statistics: drop --plans-stats")
        if profile.projected is not None:
            statistics = self._capture_scaled(profile.projected, profile.name)
            origin = f"{self.project.profiles_path}: {profile.name}"
        elif self.config.stats is not None:
            statistics, origin = read_statistics(self.config.stats), str(self.config.stats)
        else:
            return None
        self.facts.statistics = {
            "file": origin,
            "source": str(statistics.get("source", "")),
            "captured_at": str(statistics.get("captured_at", "")),
            "fidelity": fidelity_note(statistics, profile.name, self.facts.revision),
            "preview": "no" if gates(statistics, profile.name, self.facts.revision) else "yes"}
        return StatisticsLoader(statistics, origin, self.progress)

    def _capture_scaled(self, projected: Projected, name: str) -> dict[str, Any]:
        if projected.stats is not None:
            return self._file_scaled(projected, name, projected.stats)
        source = self.project.profile(projected.source)
        self.progress(f"profile {name}: capturing the statistics of profile {source.name}, "
                      f"to scale them by {projected.scale:g} and plan on {projected.onto}")
        config = replace(self.config, profile=source.name, stats=None, baseline=None,
                         update_baseline="off", migration_check="off")
        with PlanRun(config, self.project, self.progress) as run:
            captured = capture(run.connection, f"{run.facts.server}, revision "
                               f"{run.facts.revision}, profile {source.name}", self.project.anchors,
                               source.planner, self.project.manifest)
        self._check_projected_tables(captured, projected, name, f"profile {source.name}")
        return scaled(captured, projected.scale, f"profile {source.name} x{projected.scale:g} "
                                                 f"({captured['source']})", projected.tables)

    def _check_projected_tables(self, statistics: Mapping[str, Any], projected: Projected,
                                name: str, source: str) -> None:
        """The tables a projected profile scales apart must be in the statistics."""
        known = {r["name"] for r in statistics["relations"] if r["kind"] == "table"}
        for table in projected.tables:
            if table not in known:
                raise ConfigError(f"{self.project.profiles_path}: {name}.projected.tables."
                                  f"{table}: no table {table!r} in {source}")

    def _file_scaled(self, projected: Projected, name: str, path: Path) -> dict[str, Any]:
        """A projected profile's committed statistics of its source, scaled: no seeding of
        the source. A file not checked onto `onto` at this revision still plans, as a preview,
        and the progress says how to check and stamp it again."""
        statistics = read_statistics(path)
        self.progress(f"profile {name}: the statistics of profile {projected.source} from "
                      f"{path}, scaled by {projected.scale:g}, planned on {projected.onto}")
        revision = self.facts.revision
        if not gates(statistics, projected.onto, revision):
            self.progress(f"{path}: {fidelity_note(statistics, projected.onto, revision)}; a "
                          f"preview. Capture, check and stamp it again with: plan-harness stats "
                          f"stamp --plans-profile {projected.source} --onto {projected.onto} "
                          f"--out {path}")
        self._check_projected_tables(statistics, projected, name, str(path))
        return scaled(statistics, projected.scale, f"profile {projected.source} "
                      f"x{projected.scale:g} ({statistics.get('source', path)})", projected.tables)

    def _provision(self, profile: Profile, target: str) -> None:
        started = time.monotonic()
        watched = self.config.migration_check == "on"
        # The migration check builds (or reuses) the database at the data revision and
        # migrates it under load on every run; a migrated copy is never kept.
        build_to = self.project.load_revision if watched else target
        if self.config.provider == "embedded" and self.config.cache != "off":
            conninfo = self._embedded_with_cache(profile, build_to)
        else:
            server = self._start_server(server_provider(
                self.config.provider, dsn=self.config.dsn, image=self.config.image))
            conninfo = self._build(server, profile, build_to).conninfo
        if watched:
            self._migrate_under_load(conninfo, self.project.load_revision, target)
        self._conninfo = conninfo
        # The harness PREPAREs its statements itself; psycopg's automatic preparation (after
        # five executions) would add a second, unchecked prepared statement.
        conn = psycopg.connect(conninfo, autocommit=True, prepare_threshold=None)
        self._stack.callback(conn.close)
        if self._statistics is not None:
            self._statistics.load(conn)
        self._apply_settings(conn, profile)
        self._conn = conn
        self._read_schema(target, self.facts.profile)
        self.facts.seed_seconds = time.monotonic() - started
        self.progress(f"ready in {self.facts.seed_seconds:.1f} s")

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The open run's connection to its database (after open())."""
        if self._conn is None:
            raise RuntimeError("PlanRun.open() must come first")
        return self._conn

    @property
    def existing_db(self) -> bool:
        return self.config.allow_existing_db == "on"

    @property
    def projected(self) -> bool:
        """Planning from loaded statistics: scenarios are planned, never run."""
        return self._statistics is not None

    def _attach_existing(self, profile: Profile) -> None:
        """--plans-allow-existing-db: the DSN's own database, as it is. Nothing is created,
        migrated or seeded, and the session is read-only; run_case plans a statement that
        would write instead of running it."""
        started = time.monotonic()
        self._start_server(server_provider("dsn", dsn=self.config.dsn, image=""))
        self._conninfo = self.config.dsn
        self.facts.revision = schema.current_revision(self._conninfo) or "(no alembic_version)"
        conn = psycopg.connect(self._conninfo, autocommit=True, prepare_threshold=None)
        self._stack.callback(conn.close)
        conn.execute("SET default_transaction_read_only = on")
        self._apply_settings(conn, profile)
        self._conn = conn
        # No profile describes a database the harness did not seed: its budgets apply only
        # when asked for (--plans-existing-db-budgets).
        budgets = self.config.existing_db_budgets
        self.facts.existing_db, self.facts.profile = True, budgets
        self.facts.row_counts = existing_row_counts(conn)
        self._read_schema(self.facts.revision, budgets)
        self.facts.seed_seconds = time.monotonic() - started
        rows = ", ".join(f"{table} {count:,}" for table, count in self.facts.row_counts.items())
        self.progress(f"planning against the existing database, read-only, at revision "
                      f"{self.facts.revision}: existing database, not seeded "
                      f"(rows: {rows or 'no tables'}); "
                      + (f"budgets of profile {budgets}" if budgets else
                         "no profile budgets (--plans-existing-db-budgets=PROFILE for one's)"))

    def _read_schema(self, revision: str, profile: str) -> None:
        """What the checks and the report need to know of the schema at `revision`."""
        assert self._conn is not None
        self._catalog = read_catalog(self._conn, revision, profile)
        if self.projected:
            # the scale the plans are made at, not the small database's own row counts
            self.facts.row_counts = {table: round(rows) for table, rows
                                     in sorted(self._catalog.table_rows.items())
                                     if table in self.facts.row_counts}
        if self.config.baseline is not None and self.config.update_baseline != "on":
            self.baseline = load_baseline(self.config.baseline, profile,
                                          frozenset(self._catalog.table_rows))
            self.references = dict(self.baseline.items)
        projection = self.project.projection
        self.facts.projection = projection.label
        self.facts.index_sizes = index_sizes(self._conn, projection)
        self.facts.table_sizes = table_sizes(self._conn, projection)

    def migrate(self, target: str, *, under_load: bool = False,
                allow_downgrade: bool = False) -> None:
        """Moves the open database to another revision: on to a later one, `under_load` of the
        migration check's writer (compare: run at the base revision, migrate, run at the
        head), or back with `allow_downgrade` (the mutation proof undoes each mutation). The
        results so far are the caller's to keep: they are cleared here."""
        revisions = schema.Revisions(self.project.migrations_dir)
        current, target = self.facts.revision, revisions.resolve(target)
        forward = target != current and revisions.is_at_or_after(target, current)
        if not forward and not (allow_downgrade and target != current):
            raise ConfigError(f"revision {target} is not after {current}: nothing to migrate")
        if forward and under_load:
            self._migrate_under_load(self._conninfo, current, target)
        else:
            self.progress(f"migrating {current} -> {target}")
            move = schema.upgrade if forward else schema.downgrade
            move(self._conninfo, self.project.migrations_dir, target)
            self._after_migration(self._conninfo)
        self.facts = replace(self.facts, revision=target,
                             started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        self._read_schema(target, self.facts.profile)
        self._anchors.clear()  # the writer may have added rows
        self.results = []

    def _migrate_under_load(self, conninfo: str, current: str, target: str) -> None:
        self.progress(f"migration check: {current} -> {target} while "
                      f"inserting (budget {self.config.max_write_wait_ms} ms per write)")
        cost = watch_migration(conninfo, self.project.migrations_dir, current,
                               target, self.project.migration_writer,
                               self.config.max_write_wait_ms, self.progress)
        self.migration_failures = cost.failures()
        self.facts.migration = {**asdict(cost), "failures": self.migration_failures}
        self._after_migration(conninfo)

    def _after_migration(self, conninfo: str) -> None:
        """New indexes need statistics: ANALYZE them, or with loaded statistics load them
        again (CREATE INDEX reset the row counts; a VACUUM would read every padded page)."""
        if self._conn is not None and self._statistics is not None:
            self._statistics.load(self._conn)
            return
        with psycopg.connect(conninfo, autocommit=True) as conn:
            datagen.vacuum_analyze(conn, self.progress)

    def _start_server(self, provider: ServerProvider) -> ServerInfo:
        server: ServerInfo = self._stack.enter_context(provider)
        self._server = server
        self.facts.server = server.label
        self.progress(f"server: {server.label}")
        self._refuse_what_the_server_lacks(server.admin_conninfo, "the server")
        return server

    def _build(self, server: ServerInfo, profile: Profile, target: str) -> HarnessDatabase:
        """Creates, migrates, seeds and vacuums the harness's database on `server`."""
        database = self._stack.enter_context(harness_database(server))
        assert_harness_owned(database.conninfo)
        migrations = self.project.migrations_dir
        schema.upgrade(database.conninfo, migrations, self.project.load_revision)
        self.progress(f"schema at {self.project.load_revision}; seeding profile {profile.name} "
                      f"with seed {self.config.seed}")
        self.facts.row_counts = seed_database(database.conninfo, self.project, profile,
                                              self.config.seed, self.progress)
        if target != self.project.load_revision:
            self.progress(f"migrating to {target}")
            schema.upgrade(database.conninfo, migrations, target)
        with psycopg.connect(database.conninfo, autocommit=True) as conn:
            datagen.vacuum_analyze(conn, self.progress)
        return database

    def _embedded_with_cache(self, profile: Profile, target: str) -> str:
        cache = SeedCache(self.config.cache_dir)
        inputs = self._cache_inputs(profile, target)
        key = fingerprint(inputs)
        with cache.building(key):
            return self._reuse_or_build(cache, key, inputs, profile, target)

    def _reuse_or_build(self, cache: SeedCache, key: str, inputs: dict[str, Any],
                        profile: Profile, target: str) -> str:
        entry = cache.lookup(key) if self.config.cache == "on" else None
        if entry is not None:
            self._start_server(EmbeddedServer(data_from=entry.data_dir))
            self.progress(f"reusing seeded database {key} from {cache.root} "
                          f"(profile {profile.name}, seed {self.config.seed}, revision {target})")
            self.facts.row_counts = dict(entry.row_counts)
            self.facts.cache = f"reused {key}"
            return self._cached_conninfo(entry.database)
        embedded, database = self._migrated_copy(cache, profile, target)
        with embedded.stopped() as data_dir:
            stored = cache.store(key, data_dir, inputs, database, self.facts.row_counts)
        self.progress(f"kept seeded database {key} in {cache.root} "
                      f"({human_size(stored.size_bytes)}; --plans-cache off to skip)")
        self.facts.cache = f"stored {key}"
        return self._cached_conninfo(database)

    def _migrated_copy(self, cache: SeedCache, profile: Profile,
                       target: str) -> tuple[EmbeddedServer, str]:
        """A running server with the database at `target`: a copy of the kept database at the
        nearest earlier revision, migrated from there (a new migration costs only its own run,
        not a seeding), or, with none kept, seeded at the data revision (kept too) and
        migrated."""
        nearest = self._nearest_kept(cache, profile, target)
        if nearest is not None:
            revision, entry = nearest
            embedded = EmbeddedServer(data_from=entry.data_dir)
            self._start_server(embedded)
            self.progress(f"starting from kept database {entry.key} at revision {revision}, "
                          "without seeding")
            self.facts.row_counts = dict(entry.row_counts)
            self._migrate_copy(self._cached_conninfo(entry.database), revision, target)
            return embedded, entry.database
        embedded = EmbeddedServer()
        server = self._start_server(embedded)
        load_revision = self.project.load_revision
        database = self._build(server, profile, load_revision)
        if target != load_revision:
            loaded = self._cache_inputs(profile, load_revision)
            with embedded.stopped() as data_dir:
                cache.store(fingerprint(loaded), data_dir, loaded, database.name,
                            self.facts.row_counts)
            self.progress(f"kept the loaded database at {load_revision} for later migrations")
            self._migrate_copy(database.conninfo, load_revision, target)
        return embedded, database.name

    def _nearest_kept(self, cache: SeedCache, profile: Profile,
                      target: str) -> tuple[str, CacheEntry] | None:
        """The kept database at the revision nearest below `target`, down to the data
        revision (none with --plans-cache refresh: that rebuilds from the data)."""
        if self.config.cache != "on":
            return None
        revisions = schema.Revisions(self.project.migrations_dir)
        for revision in revisions.chain_down(target, self.project.load_revision)[1:]:
            entry = cache.lookup(fingerprint(self._cache_inputs(profile, revision)))
            if entry is not None:
                return revision, entry
        return None

    def _migrate_copy(self, conninfo: str, current: str, target: str) -> None:
        self.progress(f"migrating {current} -> {target}")
        schema.upgrade(conninfo, self.project.migrations_dir, target)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            datagen.vacuum_analyze(conn, self.progress)

    def _cached_conninfo(self, database: str) -> str:
        assert self._server is not None
        conninfo = psycopg.conninfo.make_conninfo(self._server.admin_conninfo, dbname=database)
        assert_harness_owned(conninfo)
        return conninfo

    def _cache_inputs(self, profile: Profile, target: str) -> dict[str, Any]:
        """Everything that shapes the seeded database; any change gives another entry."""
        generator = self.project.generator()
        return {
            "format": CACHE_FORMAT,
            "postgres": embedded_server_version(),
            "revision": target,
            "load_revision": self.project.load_revision,
            # env.py and the chain up to the target only: a new later migration keeps the
            # entry valid, so a migration's pull request reuses the seeded data
            "migrations": files_digest([
                *self.project.migrations_dir.glob("*.py"),
                *schema.Revisions(self.project.migrations_dir).files_up_to(target)]),
            "profile": profile.name,
            "data": dict(profile.data),
            "generator": f"{generator.VERSION}/{files_digest([self.project.generator_path])}",
            "seed": self.config.seed,
        }

    def _apply_settings(self, conn: psycopg.Connection[Any], profile: Profile) -> None:
        # loaded statistics bring the planner settings they were captured with
        captured = self._statistics.statistics["planner"] if self._statistics else {}
        settings = {"statement_timeout": STATEMENT_TIMEOUT, **profile.planner, **captured}
        for name, value in settings.items():
            conn.execute(
                sql.SQL("SELECT set_config({}, {}, false)").format(
                    sql.Literal(name), sql.Literal(value)
                )
            )
        version_row = conn.execute("SHOW server_version").fetchone()
        self.facts.server_version = str(version_row[0]) if version_row else ""
        names = [
            "random_page_cost",
            "seq_page_cost",
            "effective_cache_size",
            "work_mem",
            "jit",
            "max_parallel_workers_per_gather",
            "default_statistics_target",
            "statement_timeout",
            "default_transaction_read_only",
            *settings,
        ]
        for name in dict.fromkeys(names):
            query = sql.SQL("SELECT current_setting({})").format(sql.Literal(name))
            current = conn.execute(query).fetchone()
            self.facts.planner_settings[name] = str(current[0]) if current else ""

    def save_baseline(self) -> Path | None:
        """With --plans-update-baseline on: writes this run's plans as the baseline."""
        if self.config.update_baseline != "on" or self.config.baseline is None:
            return None
        assert self._catalog is not None
        items = {f"{r.scenario.name}[{r.case.id}]": r.measurements for r in self.results}
        write_atomically(self.config.baseline, render_baseline(
            self.facts.profile, self.facts.revision, sorted(self._catalog.table_rows), items),
            "the baseline")
        self.progress(f"baseline of {len(items)} items written to {self.config.baseline}")
        return self.config.baseline

    def close(self) -> None:
        self._conn = None
        self._stack.close()

    def run_case(self, scenario: Scenario, case: Case) -> CaseResult:
        """Measures one case and judges it once. An item that cannot be measured (its SQL
        rejected, a table or column gone, an anchor without a value) gets outcome error with
        its reason; a p95 over budget is measured again before the verdict."""
        if self._conn is None or self._catalog is None:
            raise RuntimeError("PlanRun.open() must come first")
        values: dict[str, Any] = {}
        try:
            self._check_tables(scenario, case)
            values = {name: self._resolve(scenario, case, name, value)
                      for name, value in case.values.items()}
            measurements, misses = self._measure_again_if_slow(scenario, case, values)
            self._note_canary(measurements)
            verdict = evaluate(scenario, case, measurements, self.verdict_context(),
                               self.references.get(item_id(scenario, case)), misses)
        except HarnessError as exc:
            measurements, verdict = [], error_verdict(str(exc))
        result = CaseResult(scenario, case, values, tuple(measurements), verdict)
        self.results.append(result)
        return result

    def _measure_again_if_slow(self, scenario: Scenario, case: Case, values: Mapping[str, Any]
                               ) -> tuple[list[ModeMeasurement], list[Finding]]:
        """The measurements to judge, and the latency failures of a first measurement that
        was repeated because of them."""
        measurements = self._measure(scenario, values)
        misses = latency_suspects(case, measurements, self.verdict_context(),
                                  self.references.get(item_id(scenario, case)))
        if misses:
            measurements = self._measure(scenario, values)
        return measurements, misses

    def verdict_context(self) -> Context:
        assert self._catalog is not None
        preview = bool(self.facts.statistics and self.facts.statistics["preview"] == "yes")
        return Context(self._catalog, self.project.checks, self.config.policy,
                       gating=not preview, canary_base_ms=self._canary_base_ms)

    def _note_canary(self, measurements: Sequence[ModeMeasurement]) -> None:
        """The fastest canary of the run so far, unless the project recorded the machine's
        own (then a run on a busy or slower machine divides that slowdown out)."""
        if self.project.checks.canary_ms:
            self._canary_base_ms = self.project.checks.canary_ms
            return
        for m in measurements:
            if m.canary is not None:
                fastest = self._canary_base_ms or m.canary.median_ms
                self._canary_base_ms = min(fastest, m.canary.median_ms)

    def _check_tables(self, scenario: Scenario, case: Case) -> None:
        assert self._catalog is not None
        for table in case.expect.accepted(scenario.table):
            if table not in self._catalog.table_rows:
                field = "table" if table == scenario.table else f"expect.tables.{table}"
                raise ScenarioError(f"{scenario.path}: {field}: no table named {table!r} "
                                    f"exists in the schema at revision {self.facts.revision}")

    def note_missing(self, existing: Sequence[str]) -> list[str]:
        """Items of the baseline that the project no longer has (each a regression)."""
        self.facts.missing = self.baseline.missing(existing) if self.baseline else []
        return self.facts.missing

    def use_reference(self, results: Sequence[CaseResult], source: str) -> None:
        """Judge the coming items against these earlier results of the same process and
        database (the base revision): buffer growth fails, and latency beyond the noise."""
        self.references = references_from(results, source)

    def _measure(self, scenario: Scenario, values: Mapping[str, Any]) -> list[ModeMeasurement]:
        assert self._conn is not None
        try:
            return measure(
                self._conn,
                scenario.positional_sql(),
                bind_order(scenario.parameters, values),
                scenario.expect.plan_modes,
                warmup=self.config.warmup,
                runs=self.config.runs,
                read_only=self.existing_db,
                plan_only=self.projected,
            )
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0]
            raise ScenarioError(f"{scenario.path}: sql: {message}") from None

    def _resolve(self, scenario: Scenario, case: Case, name: str, value: ParamValue) -> Any:
        if not isinstance(value, AnchorRef):
            return value
        field = f"cases[{scenario.cases.index(case)}].values.{name}"
        if value.name not in self.project.anchors:
            raise ScenarioError(
                f"{scenario.path}: {field}: unknown anchor @{value.name} (known: "
                f"{', '.join(sorted(self.project.anchors))})"
            )
        base = self._anchor(value.name)
        if not value.offset:
            return base
        if not isinstance(base, dt.datetime | dt.date):
            raise ScenarioError(
                f"{scenario.path}: {field}: @{value.name} is {base!r}, "
                "not a date, so it takes no offset"
            )
        return base + value.offset

    def _anchor(self, name: str) -> Any:
        if name not in self._anchors and self._statistics is not None:
            self._anchors[name] = self._statistics.anchor(self.connection, name)
        if name not in self._anchors:
            assert self._conn is not None
            try:
                row = self._conn.execute(self.project.anchors[name]).fetchone()
            except psycopg.Error as exc:
                raise ConfigError(
                    f"{self.project.manifest}: anchors.{name}: "
                    f"{str(exc).strip().splitlines()[0]}"
                ) from None
            if row is None or row[0] is None:
                raise ConfigError(
                    f"{self.project.manifest}: anchors.{name}: "
                    "the query found no value in the seeded data"
                )
            self._anchors[name] = row[0]
        return self._anchors[name]


def item_id(scenario: Scenario, case: Case) -> str:
    return f"{scenario.name}[{case.id}]"


def all_item_ids(project: Project) -> list[str]:
    """Every item the project's scenario files define, selected or not."""
    return [item_id(s, c) for s in load_scenarios(project.scenarios_dir) for c in s.cases]


def references_from(results: Sequence[CaseResult], source: str) -> dict[str, Reference]:
    """Each measured item of an earlier run as a reference, with the canary's spread over
    that run as the noise a latency change must exceed."""
    noise = canary_noise(m.canary.min_ms if m.canary else None
                         for r in results for m in r.measurements)
    return {
        item_id(r.scenario, r.case): Reference(source, {
            m.mode: ModeReference(
                m.plan.shape(), m.plan.shared_buffers,
                m.timing.p95_ms if m.timing else None,
                m.timing.min_ms if m.timing else None,
                m.canary.min_ms if m.canary else None)
            for m in r.measurements}, latency_gates=True, noise=noise)
        for r in results if r.measurements
    }


def seed_database(conninfo: str, project: Project, profile: Profile, seed: int,
                  progress: Progress, workers: int | None = None) -> dict[str, int]:
    """Runs the project's generator into a database at the load revision, on `workers`
    sessions at once (default: one per CPU core)."""
    generator = project.generator()
    workers = workers or max(1, os.cpu_count() or 1)
    with psycopg.connect(conninfo) as conn:
        deferred = datagen.DeferredKeys.drop(conn)
        context = SeedContext(conn, profile.data, datagen.check_seed(seed), progress,
                              workers=workers, open_session=lambda: psycopg.connect(conninfo))
        try:
            generator.generate(context)
            conn.commit()
            deferred.rebuild(conn, progress, context.worker_sessions())
        except psycopg.Error as exc:
            # e.g. a schema at the load revision without the table the generator fills, or
            # a generator whose keys are not unique (the key rebuild says so)
            detail = str(exc).strip().splitlines()[0]
            raise SchemaError(f"{project.generator_path}: seeding profile {profile.name} "
                              f"failed: {detail}") from None
        finally:
            context.close()
    return context.row_counts


def existing_row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Each table's rows as the server estimates them (pg_class.reltuples; the statistics
    collector's live rows for a table never analyzed), without reading any table."""
    rows = conn.execute(
        "SELECT c.relname, CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint "
        "ELSE coalesce(s.n_live_tup, 0) END FROM pg_class c "
        "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace "
        "ORDER BY c.relname").fetchall()
    return {str(name): int(count) for name, count in rows}


def read_catalog(conn: psycopg.Connection[Any], revision: str, profile: str) -> Catalog:
    tables = conn.execute(
        "SELECT relname, reltuples FROM pg_class WHERE relkind IN ('r', 'p') "
        "AND relnamespace = 'public'::regnamespace"
    ).fetchall()
    indexes = conn.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'i' AND relnamespace = 'public'::regnamespace"
    ).fetchall()
    return Catalog(
        table_rows={str(name): max(float(rows), 0.0) for name, rows in tables},
        indexes=frozenset(str(r[0]) for r in indexes),
        revision=revision,
        profile=profile,
    )


def failure_text(result: CaseResult, root: Path) -> str:
    """A failure that reads like a diff: what was expected, what the plan did, the numbers."""
    scenario, case = result.scenario, result.case
    path = scenario.path.relative_to(root) if scenario.path.is_relative_to(root) else scenario.path
    lines = [
        f"{scenario.name}[{case.id}] ({path}) {scenario.endpoint}".rstrip(),
        "  params: " + ", ".join(f"{k}={v!r}" for k, v in result.values.items()),
        f"  expected: {' or '.join(case.expect.indexes)} on {scenario.table}",
    ]
    for m in result.measurements:
        lines.append(
            f"  {m.mode} plan: {m.plan.access_summary(scenario.table)}, "
            f"{m.plan.shared_buffers:,} shared buffers"
            + (f", p95 {m.timing.p95_ms:.2f} ms" if m.timing else "")
        )
    lines += [f"  FAIL {f.check}: {f.message}" for f in result.verdict.of("fail")]
    lines += [f"  warn {f.check}: {f.message}" for f in result.verdict.of("warn")]
    lines += [f"  info {f.check}: {f.message}" for f in result.verdict.of("info")
              if f.check in SHOWN_INFO]
    return "\n".join(lines)
