"""Reading TOML files field by field, so every error names the file and the field."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import HarnessError

T = TypeVar("T")
_MISSING: Any = object()
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class FieldReader:
    """Typed access to one TOML document; raises `error` naming `file: field: problem`."""

    def __init__(self, path: Path, error: type[HarnessError], data: Mapping[str, Any]) -> None:
        self.path = path
        self.error = error
        self.data = data

    @classmethod
    def load(cls, path: Path, error: type[HarnessError]) -> FieldReader:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise error(f"{path}: file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise error(f"{path}: not valid TOML: {exc}") from None
        return cls(path, error, data)

    def fail(self, field: str, problem: str) -> HarnessError:
        return self.error(f"{self.path}: {field}: {problem}")

    def get(
        self, table: Mapping[str, Any], key: str, kind: type[T], where: str, default: Any = _MISSING
    ) -> T:
        field = f"{where}.{key}" if where else key
        if key not in table:
            if default is _MISSING:
                raise self.fail(field, "missing")
            return default  # type: ignore[no-any-return]
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(field, f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {value!r}")
        return value

    def table(
        self, table: Mapping[str, Any], key: str, where: str, default: Any = _MISSING
    ) -> dict[str, Any]:
        return self.get(table, key, dict, where, default)

    def reject_unknown(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                field = f"{where}.{key}" if where else key
                raise self.fail(field, f"unknown field (allowed: {', '.join(sorted(allowed))})")
