"""Scenarios: one TOML file per documented query, loaded and validated into frozen models."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ScenarioError
from harness.project.tomlfields import FieldReader

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# What is not SQL code: string literals, quoted identifiers, dollar quotes and comments. A
# `%` there is text (LIKE '%smith%'), never a placeholder.
_NOT_CODE = re.compile(
    r"""(?<!\w)[Ee]'(?:[^'\\]|''|\\.)*(?:'|\Z)"""  # E'...' takes backslash escapes
    r"|'(?:[^']|'')*(?:'|\Z)"
    r'|"(?:[^"]|"")*(?:"|\Z)'
    r"|\$\$.*?(?:\$\$|\Z)"
    r"|\$(?P<tag>[A-Za-z_]\w*)\$.*?(?:\$(?P=tag)\$|\Z)"
    r"|--[^\n]*"
    r"|/\*.*?(?:\*/|\Z)",
    re.S,
)
PLAN_MODES = ("custom", "generic")
_ANCHOR = re.compile(
    r"^@(?P<name>\w+)(?:\s*(?P<sign>[+-])\s*(?P<amount>\d+)\s*(?P<unit>minutes?|hours?|days?))?$"
)
_TOP_KEYS = {"name", "endpoint", "description", "table", "sql", "expect", "budget", "cases",
             "fan_out"}
_EXPECT_KEYS = {"index", "forbid_nodes", "seq_scan_min_rows", "plan_modes", "tables",
                "definitions"}
_BUDGET_KEYS = {"p95_ms", "shared_buffers"}
_CASE_KEYS = {"name", "values", "expect", "budget"}
_CASE_EXPECT_KEYS = {"index", "forbid_nodes", "tables"}
_TABLE_EXPECT_KEYS = {"index"}

Literal = str | int | float | bool | dt.datetime | dt.date
Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class AnchorRef:
    """A parameter value looked up in the loaded data (`@name`, optionally `- 30 days`)."""

    name: str
    offset: dt.timedelta = dt.timedelta(0)

    def __str__(self) -> str:
        if not self.offset:
            return f"@{self.name}"
        sign = "-" if self.offset < dt.timedelta(0) else "+"
        return f"@{self.name} {sign} {abs(self.offset)}"


ParamValue = Literal | AnchorRef


@dataclass(frozen=True)
class Expectation:
    """What the planner must do: use one of `indexes` on the scenario's table and one of
    `tables[t]` on each other table `t` of the plan the scenario names, avoid
    `forbid_nodes`."""

    indexes: tuple[str, ...]
    forbid_nodes: tuple[str, ...]
    seq_scan_min_rows: int | None
    plan_modes: tuple[str, ...]
    tables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # index name -> its recorded definition (harness.measure.catalog.IndexDefinition), as
    # `plan-harness definitions --write` wrote it; an index without one is judged by name
    definitions: Mapping[str, str] = field(default_factory=dict)

    def accepted(self, main_table: str) -> dict[str, tuple[str, ...]]:
        """Every table with an expected access path, the scenario's own first."""
        return {main_table: self.indexes, **self.tables}


# A budget written as one number per profile holds for every plan mode.
EVERY_MODE = "*"


@dataclass(frozen=True)
class Margin:
    """How `plan-harness budgets --write` turns a measured figure into a budget:
    ceil(measured x ratio) + slack. The slack keeps a small figure from failing on a few
    pages or milliseconds another seed or build moves it by; the ratio covers a large one."""

    ratio: float
    slack: int

    def limit(self, measured: float) -> int:
        return math.ceil(measured * self.ratio) + self.slack

    def measured(self, limit: float) -> float:
        """The figure a budget was written from (at most: an older budget had no slack)."""
        return max(limit - self.slack, 0) / self.ratio


# Shared buffers follow the data's layout (a few % between seeds and builds); a p95 follows
# the machine, and a shared CI runner is slower and burstier than the one that measured.
BUFFER_MARGIN = Margin(1.25, 16)
P95_MARGIN = Margin(5.0, 20)


@dataclass(frozen=True)
class Budget:
    """Limits per scale profile and plan mode (`{ ci = 120 }` for every mode, or
    `{ ci = { custom = 120, generic = 900 } }`); a profile or mode without an entry is not
    budgeted."""

    p95_ms: Mapping[str, Mapping[str, float]]
    shared_buffers: Mapping[str, Mapping[str, int]]

    def overridden_by(self, other: Budget) -> Budget:
        """This budget with `other`'s limits over its own (a case's over its scenario's):
        per profile, `other`'s modes replace these, its every-mode limit all of them."""
        return Budget(_override(self.p95_ms, other.p95_ms),
                      _override(self.shared_buffers, other.shared_buffers))

    @property
    def profiles(self) -> set[str]:
        return set(self.p95_ms) | set(self.shared_buffers)

    def p95_limit(self, profile: str, mode: str) -> float | None:
        return _mode_limit(self.p95_ms, profile, mode)

    def buffers_limit(self, profile: str, mode: str) -> int | None:
        return _mode_limit(self.shared_buffers, profile, mode)


def _override(base: Mapping[str, Mapping[str, Number]], over: Mapping[str, Mapping[str, Number]]
              ) -> dict[str, Mapping[str, Number]]:
    merged = dict(base)
    for profile, limits in over.items():
        merged[profile] = limits if EVERY_MODE in limits else {**base.get(profile, {}),
                                                               **limits}
    return merged


def _mode_limit(limits: Mapping[str, Mapping[str, Number]], profile: str, mode: str
                ) -> Number | None:
    by_mode = limits.get(profile, {})
    return by_mode.get(mode, by_mode.get(EVERY_MODE))


@dataclass(frozen=True)
class Case:
    """One parameter set of a scenario, possibly with its own expected indexes."""

    name: str
    id: str
    values: Mapping[str, ParamValue]
    expect: Expectation
    budget: Budget  # the scenario's, with the case's own profiles over it
    own_budget: Budget = field(default_factory=lambda: Budget({}, {}))  # the case's own


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoint: str
    description: str
    table: str
    sql: str
    parameters: tuple[str, ...]  # in order of first appearance in the SQL
    expect: Expectation
    budget: Budget
    cases: tuple[Case, ...]
    path: Path
    # on a sharded cluster: a tenant-scoped query that may read several shards (any task count)
    fan_out: bool = False

    def positional_sql(self) -> str:
        """The SQL with `%(name)s` turned into `$1..$n`, for PREPARE (in code only: a
        string literal is left as written)."""
        position = {name: i + 1 for i, name in enumerate(self.parameters)}
        return "".join(
            PLACEHOLDER.sub(lambda m: f"${position[m.group(1)]}", part) if code else part
            for part, code in sql_parts(self.sql)
        )


def sql_parts(text: str) -> list[tuple[str, bool]]:
    """`text` cut into (part, is_code): literals, quoted identifiers and comments are not
    code."""
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in _NOT_CODE.finditer(text):
        parts.append((text[position:match.start()], True))
        parts.append((match.group(0), False))
        position = match.end()
    parts.append((text[position:], True))
    return [(part, code) for part, code in parts if part]


def sql_code(text: str) -> str:
    """The SQL without its literals and comments (each replaced by a space); quoted
    identifiers are names, and stay."""
    return "".join(part if code or part.startswith('"') else " "
                   for part, code in sql_parts(text))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "case"


def read_scenario(path: Path) -> Scenario:
    reader = FieldReader.load(path, ScenarioError)
    doc = reader.data
    reader.reject_unknown(doc, _TOP_KEYS, "")
    sql = reader.get(doc, "sql", str, "").strip()
    code = sql_code(sql)
    parameters = tuple(dict.fromkeys(PLACEHOLDER.findall(code)))
    if "%s" in PLACEHOLDER.sub("", code):
        raise reader.fail("sql", "use named placeholders %(name)s, not %s")
    expect = _expectation(reader, reader.table(doc, "expect", "expect"), "expect", None)
    budget = _budget(reader, reader.table(doc, "budget", "budget", default={}), "budget")
    raw_cases = reader.get(doc, "cases", list, "")
    if not raw_cases:
        raise reader.fail("cases", "at least one case is needed")
    cases = tuple(
        _case(reader, raw, f"cases[{i}]", parameters, expect, budget)
        for i, raw in enumerate(raw_cases)
    )
    _reject_duplicate_ids(reader, cases)
    named = {n for case in cases for names in case.expect.accepted("").values() for n in names}
    for name in expect.definitions:
        if name not in named:
            raise reader.fail(f"expect.definitions.{name}", "not an index this scenario expects "
                              f"(expected: {', '.join(sorted(named))})")
    table = reader.get(doc, "table", str, "")
    if not _names_table(code, table):
        raise reader.fail("table", f"{table!r} does not appear in the SQL")
    return Scenario(
        name=reader.get(doc, "name", str, "", default=path.stem),
        endpoint=reader.get(doc, "endpoint", str, "", default=""),
        description=reader.get(doc, "description", str, "", default="").strip(),
        table=table,
        sql=sql,
        parameters=parameters,
        expect=expect,
        budget=budget,
        cases=cases,
        path=path,
        fan_out=reader.get(doc, "fan_out", bool, "", default=False),
    )


def _names_table(code: str, table: str) -> bool:
    """True when the SQL's code names `table` (bare, any case, or quoted as written): a
    misspelt `table` field is caught without a database."""
    bare = re.search(rf"(?<![\w$]){re.escape(table)}(?![\w$])", code, re.IGNORECASE)
    return bare is not None or f'"{table}"' in code


def _names(
    reader: FieldReader,
    table: Mapping[str, Any],
    key: str,
    where: str,
    default: tuple[str, ...] | None,
) -> tuple[str, ...]:
    value = table.get(key, default)
    if value is None:
        raise reader.fail(f"{where}.{key}", "missing")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise reader.fail(f"{where}.{key}", f"must be a string or a list of strings, not {value!r}")
    if not value:
        raise reader.fail(f"{where}.{key}", "must name at least one")
    return tuple(value)


def _expectation(
    reader: FieldReader, table: Mapping[str, Any], where: str, base: Expectation | None
) -> Expectation:
    allowed = _EXPECT_KEYS if base is None else _CASE_EXPECT_KEYS
    reader.reject_unknown(table, allowed, where)
    if base is not None:
        indexes = _names(reader, table, "index", where, base.indexes)
        forbid = base.forbid_nodes
        if "forbid_nodes" in table:
            forbid = (
                tuple(_names(reader, table, "forbid_nodes", where, ()))
                if table["forbid_nodes"]
                else ()
            )
        tables = {**base.tables, **_tables(reader, table, where)}
        return Expectation(indexes, forbid, base.seq_scan_min_rows, base.plan_modes, tables,
                           base.definitions)
    modes = _names(reader, table, "plan_modes", where, PLAN_MODES)
    for mode in modes:
        if mode not in PLAN_MODES:
            raise reader.fail(
                f"{where}.plan_modes", f"unknown mode {mode!r} (known: {', '.join(PLAN_MODES)})"
            )
    min_rows = reader.get(table, "seq_scan_min_rows", int, where, default=None)
    if min_rows is not None and min_rows < 0:
        raise reader.fail(f"{where}.seq_scan_min_rows", "must not be negative")
    return Expectation(
        indexes=_names(reader, table, "index", where, None),
        forbid_nodes=_names(reader, table, "forbid_nodes", where, ())
        if "forbid_nodes" in table
        else (),
        seq_scan_min_rows=min_rows,
        plan_modes=modes,
        tables=_tables(reader, table, where),
        definitions=_definitions(reader, table, where),
    )


def _definitions(reader: FieldReader, table: Mapping[str, Any], where: str) -> dict[str, str]:
    """`[expect.definitions]`: each expected index's definition when it was recorded."""
    definitions = reader.table(table, "definitions", where, default={})
    for name in definitions:
        text = reader.get(definitions, name, str, f"{where}.definitions")
        if " INDEX ON " not in f" {text}":
            raise reader.fail(f"{where}.definitions.{name}", f"{text!r} is not an index "
                              "definition (`plan-harness definitions --write` records them)")
    return dict(definitions)


def _tables(
    reader: FieldReader, table: Mapping[str, Any], where: str
) -> dict[str, tuple[str, ...]]:
    """`[expect.tables.<name>] index = ...`: the accepted indexes of another table of the
    plan (the other side of a join)."""
    tables = reader.table(table, "tables", where, default={})
    accepted = {}
    for name in tables:
        entry = reader.table(tables, name, f"{where}.tables")
        reader.reject_unknown(entry, _TABLE_EXPECT_KEYS, f"{where}.tables.{name}")
        accepted[name] = _names(reader, entry, "index", f"{where}.tables.{name}", None)
    return accepted


def _budget(reader: FieldReader, table: Mapping[str, Any], where: str) -> Budget:
    reader.reject_unknown(table, _BUDGET_KEYS, where)
    p95 = _limits(reader, table, "p95_ms", float, where)
    buffers = _limits(reader, table, "shared_buffers", int, where)
    return Budget({profile: {mode: float(v) for mode, v in limits.items()}
                   for profile, limits in p95.items()}, buffers)


def _limits(reader: FieldReader, table: Mapping[str, Any], key: str, kind: type,
            where: str) -> dict[str, dict[str, Any]]:
    """`key = { profile = N }` (every mode) or `key = { profile = { custom = N, ... } }`."""
    limits: dict[str, dict[str, Any]] = {}
    entries = reader.table(table, key, where, default={})
    for profile, value in entries.items():
        field_name = f"{where}.{key}.{profile}"
        if isinstance(value, dict):
            reader.reject_unknown(value, set(PLAN_MODES), field_name)
            limits[profile] = {mode: reader.get(value, mode, kind, field_name)
                               for mode in value}
        else:
            limits[profile] = {EVERY_MODE: reader.get(entries, profile, kind, f"{where}.{key}")}
        for mode, limit in limits[profile].items():
            if limit <= 0:
                suffix = "" if mode == EVERY_MODE else f".{mode}"
                raise reader.fail(f"{field_name}{suffix}", "must be positive")
    return limits


def _case(
    reader: FieldReader,
    raw: Any,
    where: str,
    parameters: tuple[str, ...],
    base: Expectation,
    scenario_budget: Budget,
) -> Case:
    if not isinstance(raw, dict):
        raise reader.fail(where, "must be a table")
    reader.reject_unknown(raw, _CASE_KEYS, where)
    name = reader.get(raw, "name", str, where)
    values = reader.table(raw, "values", where, default={})
    for param in parameters:
        if param not in values:
            raise reader.fail(f"{where}.values.{param}", "missing (the SQL uses it)")
    for key in values:
        if key not in parameters:
            raise reader.fail(
                f"{where}.values.{key}", f"unknown parameter (the SQL has no %({key})s)"
            )
    parsed = {key: _value(reader, value, f"{where}.values.{key}") for key, value in values.items()}
    expect = _expectation(
        reader, reader.table(raw, "expect", where, default={}), f"{where}.expect", base
    )
    own = _budget(reader, reader.table(raw, "budget", where, default={}), f"{where}.budget")
    return Case(name=name, id=slug(name), values=parsed, expect=expect,
                budget=scenario_budget.overridden_by(own), own_budget=own)


def _value(reader: FieldReader, value: Any, field: str) -> ParamValue:
    if isinstance(value, str) and value.startswith("@@"):
        return value[1:]
    if isinstance(value, str) and value.startswith("@"):
        match = _ANCHOR.match(value)
        if not match:
            raise reader.fail(
                field, f"cannot read anchor {value!r} (write @name, or @name - 30 days)"
            )
        return AnchorRef(match["name"], _offset(match))
    if isinstance(value, str | int | float | bool | dt.datetime | dt.date):
        return value
    raise reader.fail(field, f"unsupported value {value!r}")


def _offset(match: re.Match[str]) -> dt.timedelta:
    if not match["amount"]:
        return dt.timedelta(0)
    unit = match["unit"].rstrip("s") + "s"
    delta = dt.timedelta(**{unit: int(match["amount"])})
    return -delta if match["sign"] == "-" else delta


def _reject_duplicate_ids(reader: FieldReader, cases: tuple[Case, ...]) -> None:
    seen: set[str] = set()
    for i, case in enumerate(cases):
        if case.id in seen:
            raise reader.fail(f"cases[{i}].name", f"{case.name!r} repeats another case's name")
        seen.add(case.id)


def expected_index_names(scenario: Scenario) -> list[str]:
    """Every index the scenario or one of its cases expects, in order of first mention."""
    return list(dict.fromkeys(name for case in scenario.cases
                              for names in case.expect.accepted(scenario.table).values()
                              for name in names))


def scenario_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.toml") if not p.name.startswith("_"))


def read_scenarios(directory: Path) -> list[Scenario]:
    if not directory.is_dir():
        raise ScenarioError(f"{directory}: scenario directory not found")
    scenarios = [read_scenario(path) for path in scenario_files(directory)]
    names: dict[str, Path] = {}
    for scenario in scenarios:
        if scenario.name in names:
            raise ScenarioError(
                f"{scenario.path}: name: {scenario.name!r} is also used by {names[scenario.name]}"
            )
        names[scenario.name] = scenario.path
    return scenarios


def budget_profile_problems(scenario: Scenario, profiles: Collection[str],
                            profiles_file: str) -> list[str]:
    """A budget keyed by a profile the project does not have would never be checked: one
    line per such key, naming the file and field (the scenario's budgets and each case's)."""
    owners = [("budget", scenario.budget)] + [
        (f"cases[{i}].budget", case.own_budget) for i, case in enumerate(scenario.cases)]
    known = ", ".join(sorted(profiles))
    return [f"{scenario.path}: {where}.{kind}.{name}: unknown profile {name!r} "
            f"(profiles in {profiles_file}: {known})"
            for where, budget in owners
            for kind, limits in (("p95_ms", budget.p95_ms),
                                 ("shared_buffers", budget.shared_buffers))
            for name in limits if name not in profiles]
