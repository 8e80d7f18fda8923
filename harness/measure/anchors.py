"""Anchors: the values a scenario's `@name` parameters stand for, each read once per database
state from the project's anchor query (or from loaded statistics, which recorded them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg

from harness.errors import ConfigError, ScenarioError
from harness.project.scenarios import AnchorRef, Case, ParamValue, Scenario
from harness.statistics.load import StatisticsLoader


class Anchors:
    def __init__(self, queries: Mapping[str, str], manifest: Path,
                 connection: Callable[[], psycopg.Connection[Any]],
                 statistics: StatisticsLoader | None = None) -> None:
        self._queries, self._manifest = queries, manifest
        self._connection, self._statistics = connection, statistics
        self._values: dict[str, Any] = {}

    def forget(self) -> None:
        """The data changed (a migration's writer added rows): read every anchor again."""
        self._values.clear()

    def resolve(self, scenario: Scenario, case: Case, name: str, value: ParamValue) -> Any:
        """A case's parameter value: itself, or the anchor it names plus its offset."""
        if not isinstance(value, AnchorRef):
            return value
        field = f"cases[{scenario.cases.index(case)}].values.{name}"
        if value.name not in self._queries:
            raise ScenarioError(
                f"{scenario.path}: {field}: unknown anchor @{value.name} (known: "
                f"{', '.join(sorted(self._queries))})"
            )
        base = self.value(value.name)
        if not value.offset:
            return base
        if not isinstance(base, dt.datetime | dt.date):
            raise ScenarioError(
                f"{scenario.path}: {field}: @{value.name} is {base!r}, "
                "not a date, so it takes no offset"
            )
        return base + value.offset

    def value(self, name: str) -> Any:
        if name not in self._values and self._statistics is not None:
            self._values[name] = self._statistics.anchor(self._connection(), name)
        if name not in self._values:
            self._values[name] = self._query(name)
        return self._values[name]

    def _query(self, name: str) -> Any:
        try:
            row = self._connection().execute(self._queries[name]).fetchone()
        except psycopg.Error as exc:
            raise ConfigError(
                f"{self._manifest}: anchors.{name}: {str(exc).strip().splitlines()[0]}"
            ) from None
        if row is None or row[0] is None:
            raise ConfigError(
                f"{self._manifest}: anchors.{name}: the query found no value in the loaded data"
            )
        return row[0]
