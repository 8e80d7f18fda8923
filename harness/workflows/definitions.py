"""Index definitions: each expected index's definition as the database defines it now,
beside the one its scenario file recorded, and written into `[expect.definitions]` so that a
later run fails when the index is redefined under the same name."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ScenarioError
from harness.files import write_atomically
from harness.measure.catalog import Catalog, definition_change
from harness.project.scenarios import Scenario, expected_index_names


@dataclass(frozen=True)
class Status:
    """One expected index of one scenario file: what was recorded, what is live."""

    path: Path
    index: str
    recorded: str | None
    live: str | None
    valid: bool

    @property
    def text(self) -> str:
        if self.live is None:
            return "does not exist at this revision (nothing to record)"
        if not self.valid:
            return "is INVALID (not recorded: rebuild it first)"
        if self.recorded is None:
            return f"not recorded; now {self.live}"
        if self.recorded != self.live:
            return f"changed: now {definition_change(self.recorded, self.live)}"
        return "recorded, unchanged"

    @property
    def to_write(self) -> bool:
        return self.live is not None and self.valid and self.recorded != self.live


def statuses(scenarios: Sequence[Scenario], catalog: Catalog) -> list[Status]:
    found = []
    for scenario in scenarios:
        for name in expected_index_names(scenario):
            live = catalog.indexes.get(name)
            found.append(Status(scenario.path, name, scenario.expect.definitions.get(name),
                                live.definition if live else None,
                                live.valid if live else True))
    return found


_EXPECT_HEADER = re.compile(r"^\[expect\]\s*$", re.MULTILINE)
_DEFINITIONS_HEADER = re.compile(r"^\[expect\.definitions\]\s*$", re.MULTILINE)
_NEXT_HEADER = re.compile(r"^\[", re.MULTILINE)
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def write_definitions(path: Path, definitions: Mapping[str, str]) -> None:
    """Sets `[expect.definitions]` of one scenario file to the given ones (and the ones it
    had for other indexes); the file is read back and must say what was written."""
    text = path.read_text()
    kept = tomllib.loads(text).get("expect", {}).get("definitions", {})
    merged = {**kept, **definitions}
    section = "[expect.definitions]\n" + "".join(
        f"{_key(name)} = {_string(merged[name])}\n" for name in sorted(merged))
    text = _without_section(text, _DEFINITIONS_HEADER)
    expect = _EXPECT_HEADER.search(text)
    if expect is None:
        raise ScenarioError(f"{path}: expect: write it as an [expect] table on a line of its "
                            "own to have definitions written")
    after = _NEXT_HEADER.search(text, expect.end())
    end = _above_comments(text, after.start()) if after else len(text)
    body = text[:end].rstrip("\n") + "\n\n" + section
    text = body + ("\n" + text[end:].lstrip("\n") if end < len(text) else "")
    try:
        written = tomllib.loads(text)["expect"].get("definitions", {})
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: definitions could not be written into this file's "
                            f"layout ({exc}); write them by hand") from None
    if written != merged:
        raise ScenarioError(f"{path}: expect.definitions: could not be written into this "
                            "file's layout; write them by hand")
    write_atomically(path, text, "the scenario file", ScenarioError)


def _above_comments(text: str, header: int) -> int:
    """Where the comment lines right above a header start: they belong to that header."""
    start = header
    for line in reversed(text[:header].splitlines(keepends=True)):
        if line.strip() and not line.lstrip().startswith("#"):
            break
        start -= len(line)
    return start


def _without_section(text: str, header: re.Pattern[str]) -> str:
    found = header.search(text)
    if found is None:
        return text
    after = _NEXT_HEADER.search(text, found.end())
    end = after.start() if after else len(text)
    return text[:found.start()].rstrip("\n") + "\n\n" + text[end:] if after else \
        text[:found.start()].rstrip("\n") + "\n"


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
