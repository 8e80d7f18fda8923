"""Scaffold: `plan-harness init DIR` writes a minimal project that runs as it is (migrations
with their env.py, a data generator, profiles, one scenario), copied from the template
packaged beside this module (the repository's examples/minimal is a link to it), with a
.gitignore and, on request, the CI file of one forge (ci/, docs/ci's examples)."""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

from harness.errors import HarnessError
from harness.version import __version__

TEMPLATE = "project_template"
# --ci FORGE: the CI template of ci/ and where the project keeps it
CI_FILES = {"github": ("github.yml", ".github/workflows/plans.yml"),
            "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml")}
GITIGNORE = ".gitignore"


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


def ci_file(forge: str) -> tuple[str, str]:
    """The CI file of `forge` for a project: where it goes and its text, naming this
    version of the harness as the requirement to install."""
    name, target = CI_FILES[forge]
    text = (importlib.resources.files("harness.project") / "ci" / name).read_text()
    return target, text.replace("@VERSION@", __version__)


def gitignore() -> bytes:
    return (importlib.resources.files("harness.project") / "ci" / "gitignore").read_bytes()


def write_project(directory: Path, ci: str | None = None) -> list[Path]:
    """Writes the template into `directory` (created if missing), with a .gitignore unless
    one is there and `ci`'s CI file, and returns the files written. Refuses, writing
    nothing, when any other of them is there already; removes what it wrote when a write
    fails."""
    if directory.exists() and not directory.is_dir():
        raise HarnessError(f"{directory}: exists and is not a directory")
    files = template_files()
    if not (directory / GITIGNORE).exists():
        files[GITIGNORE] = gitignore()
    if ci is not None:
        where, text = ci_file(ci)
        files[where] = text.encode()
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
