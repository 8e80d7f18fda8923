"""An earlier revision of this repository checked out beside it, for benchmarks that time
the same work at two revisions side by side."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def earlier_tree(revision: str, where: Path) -> Iterator[Path]:
    """`revision` checked out at `where` (a detached git worktree), removed afterwards."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(where),
                    revision], check=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)],
                       check=False)
