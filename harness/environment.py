"""What a run ran on, for its report: the versions of the harness, Python and psycopg, and the
project's git commit, so a result can be traced to the code that produced it."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import psycopg

from harness.version import __version__


def git_commit(directory: Path) -> str:
    """The short hash of the commit checked out at `directory`, or "unknown" outside a git
    repository (or without git)."""
    try:
        found = subprocess.run(["git", "-C", str(directory), "rev-parse", "--short", "HEAD"],
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "unknown"


def run_environment(project_dir: Path, misestimate_factor: float) -> dict[str, str | float]:
    """The run's environment as results.json records it (`run.environment`); the report adds
    the server version and the duration when it writes the document. The misestimate
    threshold travels along so the report colours estimates by the project's own factor."""
    return {
        "harness": __version__,
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "git_commit": git_commit(project_dir),
        "misestimate_factor": misestimate_factor,
    }
