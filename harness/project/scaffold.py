"""Scaffold: `plan-harness init DIR` writes a minimal project that runs as it is (migrations
with their env.py, a data generator, profiles, one scenario), copied from the template
packaged beside this module (the repository's examples/minimal is a link to it)."""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

from harness.errors import HarnessError

TEMPLATE = "project_template"


# What running the template in place (examples/minimal links to it) leaves beside its
# files: never part of a new project.
GENERATED = frozenset({"__pycache__", "reports", ".pytest_cache"})


def template_files() -> dict[str, bytes]:
    """The files `init` writes, by path relative to the project directory."""
    files: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.name in GENERATED:
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                files[prefix + child.name] = child.read_bytes()

    walk(importlib.resources.files("harness") / TEMPLATE, "")
    return dict(sorted(files.items()))


def write_project(directory: Path) -> list[Path]:
    """Writes the template into `directory` (created if missing) and returns the files.
    Refuses, writing nothing, when any of them is there already; removes what it wrote
    when a write fails."""
    if directory.exists() and not directory.is_dir():
        raise HarnessError(f"{directory}: exists and is not a directory")
    files = template_files()
    for relative in files:
        target = directory / relative
        # a file where the template needs a directory (fixtures, say) is in the way too
        blocking = next((p for p in (target, *target.parents) if p.is_relative_to(directory)
                         and p != directory and p.exists()
                         and (p == target or not p.is_dir())), None)
        if blocking is not None:
            raise HarnessError(f"{blocking}: already exists; init writes a new project and "
                               "overwrites nothing (choose an empty or new directory)")
    created: list[Path] = []
    try:
        for relative, content in files.items():
            target = directory / relative
            missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
            for parent in reversed(missing):
                parent.mkdir()
                created.append(parent)
            target.write_bytes(content)
            created.append(target)
    except OSError as exc:
        for path in reversed(created):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
        raise HarnessError(f"{exc.filename or directory}: cannot write the project: "
                           f"{exc.strerror or exc}") from None
    return [directory / relative for relative in files]
