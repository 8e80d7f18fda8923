"""Distribution: where a project's tables live on a sharded cluster (Citus), declared in the
project file's `[distribution]` table, and the checks of that declaration that need no
server."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.project.tomlfields import FieldReader

if TYPE_CHECKING:
    from harness.project.scenarios import Scenario

_KEYS = {"migrations", "tables", "reference", "shard_count", "colocate_with", "min_shard_rows"}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")
# a table a statement reads: FROM x, JOIN x (a subquery's parenthesis is no name)
_READS = re.compile(r"\b(?:from|join)\s+([a-z_][a-z0-9_$]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Distribution:
    """The cluster layout: each distributed table with its distribution column, the
    reference tables (a copy on every node), shards per profile, the table every
    distributed one is colocated with, and the migration chain that builds this schema
    (keys and foreign keys that include the distribution column)."""

    migrations_dir: Path
    tables: Mapping[str, str]
    reference: tuple[str, ...] = ()
    shard_count: Mapping[str, int] = field(default_factory=dict)
    colocate_with: str = ""
    # a task is held to the expected index when its shard of the table holds more rows
    min_shard_rows: int = 1

    def declared(self, table: str) -> bool:
        return table in self.tables or table in self.reference

    def shards(self, profile: str) -> int:
        """The profile's shard count; a profile without one is refused."""
        if profile not in self.shard_count:
            raise ConfigError(f"[distribution] shard_count: no value for profile {profile!r} "
                              f"(declared: {', '.join(sorted(self.shard_count)) or 'none'})")
        return self.shard_count[profile]

    def tenant_column(self, table: str) -> str | None:
        return self.tables.get(table)

    def tenant_scoped(self, sql: str) -> bool:
        """The statement filters a distributed table by equality on its distribution column
        (to a parameter or a literal): one tenant's rows, on one shard."""
        for table in tables_read(sql):
            column = self.tables.get(table)
            if column and re.search(rf"(?<![\w$])(?:\w+\.)?{re.escape(column)}\s*=\s*"
                                    r"(?:%\(\w+\)s|'[^']*'|\$\d+)", sql):
                return True
        return False

    def key(self, profile: str) -> dict[str, Any]:
        """What shapes a cluster's build: part of its cache key."""
        return {"tables": dict(sorted(self.tables.items())), "reference": sorted(self.reference),
                "shard_count": self.shards(profile), "colocate_with": self.colocate_with}


def read_distribution(path: Path, doc: Mapping[str, Any]) -> Distribution | None:
    """The `[distribution]` table of the project file at `path` (None when it has none)."""
    reader = FieldReader(path, ConfigError, doc)
    if "distribution" not in doc:
        return None
    where = "distribution"
    raw = reader.table(doc, "distribution", "")
    reader.reject_unknown(raw, _KEYS, where)
    migrations = path.parent / reader.get(raw, "migrations", str, where)
    if not migrations.is_dir():
        raise reader.fail(f"{where}.migrations", f"no such directory: {migrations}")
    tables = reader.table(raw, "tables", where)
    for table, column in tables.items():
        if not isinstance(column, str) or not _IDENTIFIER.match(column):
            raise reader.fail(f"{where}.tables.{table}", f"must be a column name, not {column!r}")
    reference = reader.get(raw, "reference", list, where, default=[])
    if not all(isinstance(t, str) and t for t in reference):
        raise reader.fail(f"{where}.reference", "must be a list of table names")
    both = sorted(set(reference) & set(tables))
    if both:
        raise reader.fail(f"{where}.reference", f"{both[0]} is also a distributed table")
    counts = reader.table(raw, "shard_count", where, default={})
    for profile in counts:
        count = reader.get(counts, profile, int, f"{where}.shard_count")
        if not 1 <= count <= 4096:
            raise reader.fail(f"{where}.shard_count.{profile}",
                              f"must be between 1 and 4096, not {count}")
    colocate = reader.get(raw, "colocate_with", str, where, default="")
    if colocate and colocate not in tables:
        raise reader.fail(f"{where}.colocate_with", f"{colocate!r} is not a distributed table")
    min_rows = reader.get(raw, "min_shard_rows", int, where, default=1)
    if min_rows < 0:
        raise reader.fail(f"{where}.min_shard_rows", f"must be 0 or more, not {min_rows}")
    return Distribution(migrations, dict(tables), tuple(reference), dict(counts), colocate,
                        min_rows)


def tables_read(sql: str) -> set[str]:
    """The tables a statement names after FROM or JOIN (CTE names included: the caller
    leaves out the ones the statement defines)."""
    defined = {m.lower() for m in re.findall(r"\b([a-z_][a-z0-9_$]*)\s+as\s*\(", sql, re.I)}
    return {m.lower() for m in _READS.findall(sql)} - defined


def undeclared(distribution: Distribution, named: Iterable[tuple[str, str]]) -> list[str]:
    """One problem per (where, table) whose table the distribution does not declare."""
    return [f"{where}: table {table!r} is not declared in [distribution] (tables or reference)"
            for where, table in named if not distribution.declared(table)]


def undeclared_columns(distribution: Distribution) -> list[str]:
    """A distribution column the distributed chain never gives its table: one problem each
    (read from the chain's files, without a server)."""
    text = "\n".join(p.read_text() for p in sorted(distribution.migrations_dir.rglob("*.py")))
    problems = []
    for table, column in distribution.tables.items():
        body = re.search(rf"CREATE TABLE\s+{re.escape(table)}\s*\((.*?)\n\);", text, re.S | re.I)
        if body is None:
            problems.append(f"[distribution] tables.{table}: the chain in "
                            f"{distribution.migrations_dir} creates no table {table}")
        elif not re.search(rf"(^|\s|,){re.escape(column)}\s", body.group(1)):
            problems.append(f"[distribution] tables.{table}: the chain's {table} has no column "
                            f"{column}")
    return problems


def declaration_problems(distribution: Distribution, anchors: Mapping[str, str],
                         manifest: Path, scenarios: Iterable[Scenario]) -> list[str]:
    """Without a server: every table the scenarios and anchors read is declared, and every
    distribution column is one its table has in the distributed chain."""
    named: list[tuple[str, str]] = []
    for scenario in scenarios:
        tables = {scenario.table, *scenario.expect.tables, *tables_read(scenario.sql)}
        named += [(f"{scenario.path}", table) for table in sorted(tables)]
    for name, query in anchors.items():
        named += [(f"{manifest}: anchors.{name}", table) for table in sorted(tables_read(query))]
    return [*undeclared(distribution, named), *undeclared_columns(distribution)]
