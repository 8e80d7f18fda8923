"""The `[advise]` table of project.toml: index candidates a design document proposes, and the
budgets `plan-harness advise` selects a set of indexes under."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.project.tomlfields import FieldReader

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_KEY_COLUMN = re.compile(r"(?P<column>[A-Za-z_][A-Za-z0-9_$]*)(?: (?P<direction>ASC|DESC))?",
                         re.IGNORECASE)


@dataclass(frozen=True)
class ProposedIndex:
    """An index somebody proposed (a design document's "future optimization"): its name,
    table, key columns in order (each may end in ASC or DESC), INCLUDE columns and a partial
    index's predicate."""

    name: str
    table: str
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    where: str = ""


@dataclass(frozen=True)
class AdviseSettings:
    """Budgets a chosen set must meet, each against the head's own set: total index size
    (every index of the tables the plans read, constraint indexes included) at most
    `max_size_ratio` times the head's, WAL bytes per written row at most `max_write_ratio`
    times the head's, at most `max_indexes` indexes that enforce no constraint (None: no
    limit of its own)."""

    candidates: tuple[ProposedIndex, ...] = ()
    max_size_ratio: float = 1.5
    max_write_ratio: float = 1.0
    max_indexes: int | None = None


_FIELDS = {"candidates", "max_size_ratio", "max_write_ratio", "max_indexes"}
_CANDIDATE_FIELDS = {"name", "table", "columns", "include", "where"}


def read_advise(reader: FieldReader, doc: Mapping[str, Any]) -> AdviseSettings:
    table = reader.table(doc, "advise", "advise", default={})
    reader.reject_unknown(table, _FIELDS, "advise")
    defaults = AdviseSettings()
    raw = reader.get(table, "candidates", list, "advise", default=[])
    candidates = tuple(_candidate(reader, entry, f"advise.candidates[{n}]")
                       for n, entry in enumerate(raw))
    names = [c.name for c in candidates]
    for name in names:
        if names.count(name) > 1:
            raise reader.fail("advise.candidates", f"the name {name!r} is given twice")
    settings = AdviseSettings(
        candidates=candidates,
        max_size_ratio=reader.get(table, "max_size_ratio", float, "advise",
                                  default=defaults.max_size_ratio),
        max_write_ratio=reader.get(table, "max_write_ratio", float, "advise",
                                   default=defaults.max_write_ratio),
        max_indexes=reader.get(table, "max_indexes", int, "advise", default=None),
    )
    for field in ("max_size_ratio", "max_write_ratio"):
        if getattr(settings, field) <= 0:
            raise reader.fail(f"advise.{field}", f"must be above 0, not {getattr(settings, field)}")
    if settings.max_indexes is not None and settings.max_indexes < 0:
        raise reader.fail("advise.max_indexes", f"must be 0 or more, not {settings.max_indexes}")
    return settings


def _candidate(reader: FieldReader, entry: Any, where: str) -> ProposedIndex:
    if not isinstance(entry, dict):
        raise reader.fail(where, f"must be a table (name, table, columns), not {entry!r}")
    reader.reject_unknown(entry, _CANDIDATE_FIELDS, where)
    name = reader.get(entry, "name", str, where)
    table = reader.get(entry, "table", str, where)
    for field, value in (("name", name), ("table", table)):
        if not _IDENTIFIER.fullmatch(value) or len(value) > 63:
            raise reader.fail(f"{where}.{field}", f"must be an unquoted identifier, not {value!r}")
    columns = _names(reader, entry, "columns", where, _KEY_COLUMN, required=True)
    include = _names(reader, entry, "include", where, _IDENTIFIER, required=False)
    return ProposedIndex(name, table, columns, include, reader.get(entry, "where", str, where,
                                                                   default="").strip())


def _names(reader: FieldReader, entry: Mapping[str, Any], key: str, where: str,
           pattern: re.Pattern[str], *, required: bool) -> tuple[str, ...]:
    values = reader.get(entry, key, list, where, default=None if required else [])
    if values is None:
        raise reader.fail(f"{where}.{key}", "missing")
    if (required and not values) or not all(isinstance(v, str) and pattern.fullmatch(v)
                                            for v in values):
        raise reader.fail(f"{where}.{key}", "must be a list of column names (a key column "
                          f"may end in ASC or DESC), not {values!r}")
    return tuple(values)
