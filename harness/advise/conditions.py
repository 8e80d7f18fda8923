"""Conditions: what the planner saw of a scan, read from EXPLAIN's own text (Index Cond,
Recheck Cond, Filter, Sort Key, Output) rather than from the scenario's SQL: the columns a
scan compares for equality, by range, or otherwise, and whether a comparison's other side is
a literal of the SQL (a parameter shows as `$n`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

EQUALITY, RANGE, OTHER = "equality", "range", "other"

_COLUMN = r"\(?(?:(?P<qualifier>[A-Za-z_][A-Za-z0-9_$]*)\.)?(?P<column>[A-Za-z_][A-Za-z0-9_$]*)\)?"
_CAST = r"(?:::[A-Za-z_][A-Za-z0-9_ ]*(?:\[\])?)?"
_ATOM = re.compile(
    rf"^{_COLUMN}{_CAST}\s*(?P<op>=\s*ANY|<>|!=|>=|<=|=|<|>|IS NOT NULL|IS NULL)\s*(?P<other>.*)$",
    re.DOTALL)
_OPERATORS = {"=": EQUALITY, "= ANY": EQUALITY, "IS NULL": EQUALITY, "<": RANGE, ">": RANGE,
              "<=": RANGE, ">=": RANGE}
_STRING = re.compile(r"'(?:[^']|'')*'")
_CASTS = re.compile(r"::[A-Za-z_][A-Za-z0-9_ ]*(?:\[\])?")
_LITERAL_REST = re.compile(r"^(?:[\s\d.,()+\-\[\]]|ARRAY|ANY|NULL|true|false)*$")
_QUALIFIED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_$]*)\.([A-Za-z_][A-Za-z0-9_$]*)\b")


@dataclass(frozen=True)
class Comparison:
    """One conjunct of a scan's condition on a column of its table."""

    column: str
    kind: str  # equality | range | other
    literal: bool  # the other side holds no parameter and no column: a predicate of the SQL
    text: str  # the conjunct as EXPLAIN printed it, its table qualifier taken out


def conjuncts(condition: str) -> list[str]:
    """The top-level AND terms of a condition, each without its enclosing parentheses."""
    text = _unwrapped(condition.strip())
    parts, depth, start, quoted = [], 0, 0, False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(" AND ", i):
            parts.append(text[start:i])
            start = i + 5
            i += 4
        i += 1
    parts.append(text[start:])
    return [_unwrapped(p.strip()) for p in parts if p.strip()]


def _unwrapped(text: str) -> str:
    """`((a = 1))` -> `a = 1`: parentheses that enclose the whole text, taken off."""
    while text.startswith("(") and text.endswith(")") and _closing(text) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _closing(text: str) -> int:
    depth, quoted = 0, False
    for i, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def comparisons(condition: str, table: str, alias: str | None = None) -> list[Comparison]:
    """The conjuncts of `condition` that compare one column of `table` (qualified by the
    table or its `alias`, or not at all); an OR, an expression or another table's column
    is left out."""
    found = []
    names = {table, alias} - {None}
    for term in conjuncts(condition):
        match = _ATOM.match(term)
        if match is None or (match["qualifier"] and match["qualifier"] not in names):
            continue
        op = " ".join(match["op"].split())
        other = match["other"].strip()
        found.append(Comparison(match["column"], _OPERATORS.get(op, OTHER),
                                _is_literal(other), unqualified(term, names)))
    return found


def _is_literal(other: str) -> bool:
    """No parameter ($n) and no column on the other side: a constant written in the SQL."""
    if "$" in other:
        return False
    rest = _CASTS.sub("", _STRING.sub("", other))
    return bool(_LITERAL_REST.match(rest.strip()))


def unqualified(text: str, names: set[str] | set[str | None]) -> str:
    """`calls.status <> 'x'` -> `status <> 'x'` (string constants left as they are)."""
    pieces, last = [], 0
    for string in _STRING.finditer(text):
        pieces.append(_strip_qualifiers(text[last:string.start()], names))
        pieces.append(string.group())
        last = string.end()
    pieces.append(_strip_qualifiers(text[last:], names))
    return "".join(pieces)


def _strip_qualifiers(text: str, names: set[str] | set[str | None]) -> str:
    return _QUALIFIED.sub(lambda m: m[2] if m[1] in names else m[0], text)


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool


def sort_keys(keys: Sequence[str], table: str, alias: str | None = None) -> list[SortKey]:
    """The leading Sort Key entries that are plain columns of `table`, in order (an
    expression ends the list: an index on columns cannot give an order after it)."""
    names = {table, alias} - {None}
    found = []
    for key in keys:
        match = re.fullmatch(rf"{_COLUMN}(?P<desc> DESC)?(?: NULLS (?:FIRST|LAST))?", key.strip())
        if match is None or (match["qualifier"] and match["qualifier"] not in names):
            break
        found.append(SortKey(match["column"], bool(match["desc"])))
    return found


def output_columns(outputs: Sequence[str], table: str, alias: str | None = None
                   ) -> Iterator[str]:
    """The columns of `table` a scan's VERBOSE Output names (inside expressions too)."""
    names = {table, alias} - {None}
    for item in outputs:
        for qualifier, column in _QUALIFIED.findall(_STRING.sub("", item)):
            if qualifier in names:
                yield column
