"""Base ref: the head revision of a project's migrations as another git ref has them (the
target branch of a pull or merge request), for `compare --base-ref`. The migrations folder
is read from git at that ref into a temporary directory and asked for its head by Alembic;
nothing is checked out."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from harness.build.migrations import Revisions
from harness.errors import HarnessError


def head_at_ref(migrations_dir: Path, ref: str) -> str:
    """The head revision of `migrations_dir` at git ref `ref`. One line naming the ref when
    git cannot tell (not a repository, an unknown ref, no migrations there) or when the
    migrations there have no single head."""
    folder = migrations_dir.resolve()
    top = Path(_git(folder, ref, "rev-parse", "--show-toplevel").decode().strip())
    relative = folder.relative_to(top.resolve()).as_posix()
    archive = _git(top, ref, "archive", "--format=tar", ref, "--", relative)
    with tempfile.TemporaryDirectory(prefix="plan-harness-base-ref-") as scratch:
        root = Path(scratch)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar.getmembers():
                target = (root / member.name).resolve()
                if not member.isfile() or not target.is_relative_to(root.resolve()):
                    continue  # directories come with their files; links are not migrations
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file has content
                target.write_bytes(source.read())
        try:
            return Revisions(root / relative).head()
        except HarnessError as exc:
            raise HarnessError(f"--base-ref {ref}: the migrations there: {exc}") from None


def _git(cwd: Path, ref: str, *args: str) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise HarnessError(f"--base-ref {ref}: git is not installed") from None
    if result.returncode != 0:
        said = (result.stderr.decode(errors="replace").strip().splitlines() or [""])[0]
        raise HarnessError(f"--base-ref {ref}: git {args[0]} in {cwd}: {said}")
    return result.stdout
