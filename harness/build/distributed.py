"""Distributed build: the run's database on a Citus cluster, copied from the single-node
build through the coordinator and distributed as the project's [distribution] declares."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from harness.build import datagen
from harness.build import migrations as schema
from harness.build.datagen import Progress
from harness.errors import ConfigError, SchemaError
from harness.project.distribution import Distribution
from harness.project.manifest import Profile, Project
from harness.server.providers import Provider


def distribution_of(project: Project) -> Distribution:
    if project.distribution is None:
        raise ConfigError(f"{project.manifest}: a distributed provider needs a [distribution] "
                          "table (docs/workflows.md, Citus)")
    return project.distribution


def build_on_cluster(conninfo: str, source_conninfo: str, project: Project, profile: Profile,
                     target: str, progress: Progress) -> None:
    """The distributed chain at the load revision; its keys set aside; the tables
    distributed; every table copied from the single-node build at the load revision
    (`source_conninfo`); keys rebuilt; the chain on to `target`; VACUUM ANALYZE."""
    distribution = distribution_of(project)
    chain = distribution.migrations_dir
    started = time.monotonic()
    schema.upgrade(conninfo, chain, project.load_revision)
    with psycopg.connect(conninfo) as conn:
        deferred = datagen.DeferredKeys.drop(conn)
        distribute(conn, distribution, profile.name)
        conn.commit()
        reference = len(distribution.reference)
        progress(f"distributed {len(distribution.tables)} tables over "
                 f"{distribution.shards(profile.name)} shards"
                 f"{f' and {reference} reference tables' if reference else ''}"
                 f": {time.monotonic() - started:.1f} s")
        copy_tables(source_conninfo, conn, progress)
        try:
            rebuild_keys(conn, deferred, progress)
        except psycopg.Error as exc:
            raise SchemaError(f"{chain}: the keys of the distributed schema: "
                              f"{str(exc).strip().splitlines()[0]}") from None
    if target != project.load_revision:
        progress(f"migrating to {target}")
        schema.upgrade(conninfo, chain, target)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        vacuum_analyze(conn, progress)


def rebuild_keys(conn: psycopg.Connection[Any], deferred: datagen.DeferredKeys,
                 progress: Progress) -> None:
    """Keys, indexes, then foreign keys added valid: each shard checks its own rows (a NOT
    VALID key's VALIDATE would be a join across shards, which Citus refuses)."""
    started = time.monotonic()
    for table, name, definition in (*deferred.keys, *deferred.foreign_keys):
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
            sql.Identifier(table), sql.Identifier(name)) + sql.SQL(definition))
    for _, statement in deferred.indexes:
        conn.execute(sql.SQL(statement))
    conn.commit()
    progress(f"keys and indexes built on every shard ({len(deferred.keys)} keys, "
             f"{len(deferred.indexes)} indexes, {len(deferred.foreign_keys)} foreign keys): "
             f"{time.monotonic() - started:.1f} s")


def distribute(conn: psycopg.Connection[Any], distribution: Distribution, profile: str) -> None:
    """Reference tables first, then the table the others are colocated with, then the rest."""
    for table in distribution.reference:
        _call(conn, "SELECT create_reference_table(%s)", [table], table)
    shards = distribution.shards(profile)
    first = distribution.colocate_with
    ordered = sorted(distribution.tables, key=lambda t: t != first)
    for table in ordered:
        column = distribution.tables[table]
        if first and table != first:
            _call(conn, "SELECT create_distributed_table(%s, %s, colocate_with => %s)",
                  [table, column, first], table)
        else:
            _call(conn, "SELECT create_distributed_table(%s, %s, shard_count => %s)",
                  [table, column, shards], table)


def _call(conn: psycopg.Connection[Any], statement: str, args: list[Any], table: str) -> None:
    try:
        conn.execute(statement, args)
    except psycopg.Error as exc:
        raise SchemaError(f"[distribution] tables.{table}: "
                          f"{str(exc).strip().splitlines()[0]}") from None


def copy_tables(source_conninfo: str, conn: psycopg.Connection[Any], progress: Progress) -> None:
    """Every table of the source's public schema, COPY out and COPY in through the
    coordinator (Citus routes each row to its shard), in the source's column order."""
    started = time.monotonic()
    with psycopg.connect(source_conninfo) as source:
        tables = [str(r[0]) for r in source.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname <> 'alembic_version' "
            "AND relnamespace = 'public'::regnamespace ORDER BY relname").fetchall()]
        for table in tables:
            columns = [str(r[0]) for r in source.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum", [table]).fetchall()]
            names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            out = sql.SQL("COPY {} ({}) TO STDOUT (FORMAT binary)").format(
                sql.Identifier(table), names)
            into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                sql.Identifier(table), names)
            with source.cursor().copy(out) as reading, conn.cursor().copy(into) as writing:
                for chunk in reading:
                    writing.write(chunk)
        conn.commit()
    progress(f"copied {len(tables)} tables from the single-node build through the coordinator: "
             f"{time.monotonic() - started:.1f} s")


def vacuum_analyze(conn: psycopg.Connection[Any], progress: Progress) -> None:
    """VACUUM (ANALYZE, FREEZE) each table by name: Citus passes a named one to its shards."""
    started = time.monotonic()
    tables = [str(r[0]) for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
        "AND relnamespace = 'public'::regnamespace ORDER BY relname").fetchall()]
    for table in tables:
        conn.execute(sql.SQL("VACUUM (ANALYZE, FREEZE) {}").format(sql.Identifier(table)))
    progress(f"vacuum analyze on every shard: {time.monotonic() - started:.1f} s")


def schema_project(project: Project, provider: Provider) -> Project:
    """The project as a server kind builds it: a distributed kind with the [distribution]
    chain, another with the chain the provider names (the project's own by default)."""
    if provider.distributed:
        return replace(project, migrations_dir=distribution_of(project).migrations_dir)
    return replace(project, migrations_dir=provider.migrations_dir(project.migrations_dir))


def budget_key(profile: str, provider: Provider) -> str:
    """The key of a run's budgets in scenario files: the profile, and on a distributed kind
    the profile at that kind (`ci@citus`): a layout's figures are its own."""
    return f"{profile}@{provider.name}" if provider.distributed else profile
