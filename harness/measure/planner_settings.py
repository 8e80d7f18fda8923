"""Planner settings: the profile's (and loaded statistics') settings applied to the run's
session, and the settings that shape plans read back for the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

STATEMENT_TIMEOUT = "60s"  # bounds every scenario query

# Always reported, whether or not a profile sets them: they decide between plans.
_REPORTED = ("random_page_cost", "seq_page_cost", "effective_cache_size", "work_mem", "jit",
             "max_parallel_workers_per_gather", "default_statistics_target",
             "statement_timeout", "default_transaction_read_only")


def apply_planner_settings(conn: psycopg.Connection[Any], *layers: Mapping[str, str]
                           ) -> dict[str, str]:
    """Sets the statement timeout, then each layer over the one before, for the session;
    returns the reported settings as the server now has them."""
    settings: dict[str, str] = {"statement_timeout": STATEMENT_TIMEOUT}
    for layer in layers:
        settings.update(layer)
    for name, value in settings.items():
        conn.execute(sql.SQL("SELECT set_config({}, {}, false)").format(
            sql.Literal(name), sql.Literal(value)))
    shown = {}
    for name in dict.fromkeys([*_REPORTED, *settings]):
        query = sql.SQL("SELECT current_setting({})").format(sql.Literal(name))
        current = conn.execute(query).fetchone()
        shown[name] = str(current[0]) if current else ""
    return shown


def server_version(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else ""
