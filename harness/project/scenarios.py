"""Scenarios: one TOML file per documented query, loaded and validated into frozen models."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
_EXPECT_KEYS = {"index", "forbid_nodes", "seq_scan_min_rows", "plan_modes", "tables"}
_BUDGET_KEYS = {"p95_ms", "shared_buffers"}
_CASE_KEYS = {"name", "values", "expect", "budget"}
_CASE_EXPECT_KEYS = {"index", "forbid_nodes", "tables"}
_TABLE_EXPECT_KEYS = {"index"}

Literal = str | int | float | bool | dt.datetime | dt.date


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

    def accepted(self, main_table: str) -> dict[str, tuple[str, ...]]:
        """Every table with an expected access path, the scenario's own first."""
        return {main_table: self.indexes, **self.tables}


@dataclass(frozen=True)
class Budget:
    """Limits per scale profile; a profile without an entry is not budgeted."""

    p95_ms: Mapping[str, float]
    shared_buffers: Mapping[str, int]

    def overridden_by(self, other: Budget) -> Budget:
        """This budget with `other`'s profiles replacing its own (a case's over its
        scenario's)."""
        return Budget({**self.p95_ms, **other.p95_ms},
                      {**self.shared_buffers, **other.shared_buffers})

    @property
    def profiles(self) -> set[str]:
        return set(self.p95_ms) | set(self.shared_buffers)


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
        return Expectation(indexes, forbid, base.seq_scan_min_rows, base.plan_modes, tables)
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
    )


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
    p95 = reader.table(table, "p95_ms", where, default={})
    buffers = reader.table(table, "shared_buffers", where, default={})
    for profile in p95:
        if reader.get(p95, profile, float, f"{where}.p95_ms") <= 0:
            raise reader.fail(f"{where}.p95_ms.{profile}", "must be positive")
    for profile in buffers:
        if reader.get(buffers, profile, int, f"{where}.shared_buffers") <= 0:
            raise reader.fail(f"{where}.shared_buffers.{profile}", "must be positive")
    return Budget({k: float(v) for k, v in p95.items()}, dict(buffers))


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
