"""Needs: what a run asks of a server (its version's features, the right to create the
harness's database), checked right after connecting and refused in one line before any
loading."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from harness.errors import ConfigError, ProvisioningError
from harness.server.provisioning import redact

# The data generator's helper functions have SQL-standard bodies (PostgreSQL 14).
LOAD_MIN_VERSION = 140000
# pg_restore_relation_stats() and pg_restore_attribute_stats() came with PostgreSQL 18.
STATISTICS_MIN_VERSION = 180000


def version_text(server_version: int) -> str:
    return f"{server_version // 10000}.{server_version % 10000}"


def version_refusal(server_version: int, what: str) -> str | None:
    """Why a server of `server_version` (server_version_num) cannot load statistics, or
    None."""
    if server_version >= STATISTICS_MIN_VERSION:
        return None
    return (f"{what} needs PostgreSQL {STATISTICS_MIN_VERSION // 10000} or later "
            f"(pg_restore_relation_stats); this server is {version_text(server_version)}")


@dataclass(frozen=True)
class ServerNeeds:
    """What the run asks of a server: checked right after connecting, before any loading."""

    statistics: str | None = None  # the option that loads statistics, if any
    existing_db: bool = False  # plans on the DSN's own database: creates nothing

    def refuse_what_is_lacking(self, conninfo: str, name: str = "--plans-dsn") -> None:
        """A feature the server's version lacks, or a role that may not create the harness's
        database, is refused before anything is loaded."""
        try:
            with psycopg.connect(conninfo, connect_timeout=10) as conn:
                row = conn.execute("SELECT current_user, rolcreatedb OR rolsuper FROM pg_roles "
                                   "WHERE rolname = current_user").fetchone()
                version = conn.info.server_version
        except psycopg.Error as exc:
            raise ProvisioningError(f"cannot connect to {name} {redact(conninfo)}: "
                                    f"{str(exc).strip().splitlines()[0]}") from None
        refusal = self.statistics and version_refusal(version, self.statistics)
        if refusal:
            raise ConfigError(refusal)
        if not self.existing_db and version < LOAD_MIN_VERSION:
            raise ConfigError(
                f"loading data needs PostgreSQL {LOAD_MIN_VERSION // 10000} or later "
                f"(its helper functions have SQL-standard bodies); this server is "
                f"{version_text(version)}")
        if not self.existing_db and row is not None and not row[1]:
            raise ProvisioningError(
                f"role {row[0]} at {redact(conninfo)} lacks CREATEDB, and the harness creates "
                f"its own database there: ALTER ROLE {row[0]} CREATEDB, or plan against the "
                "DSN's own database with --plans-allow-existing-db on")
