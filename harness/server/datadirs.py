"""Data directories: where embedded servers keep their data while a run lasts, who owns
each one, and the sweep that removes those of runs that died. Needs no database driver (the
build cache uses it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.errors import ProvisioningError


def runs_root() -> Path:
    """Where embedded servers keep their data while a run lasts."""
    return Path(tempfile.gettempdir()) / "plan-harness"


def copy_tree(source: Path, destination: Path) -> None:
    """Copies a data directory keeping owners and modes (cp -a; reflinks where the file
    system has them)."""
    result = subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(destination)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProvisioningError(f"cannot copy {source} to {destination}: "
                                f"{result.stderr.strip()}")


def make_run_dir() -> Path:
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    # Unix socket paths are limited to ~100 bytes, so keep the directory name short.
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))


def write_owner(workdir: Path, postmaster_pid: int) -> None:
    info = {"harness_pid": os.getpid(), "postmaster_pid": postmaster_pid}
    (workdir / "owner.json").write_text(json.dumps(info))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned_runs() -> list[Path]:
    """Deletes data directories whose harness process is gone (a run killed by SIGKILL)."""
    removed: list[Path] = []
    root = runs_root()
    if not root.is_dir():
        return removed
    for workdir in root.iterdir():
        owner_file = workdir / "owner.json"
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            continue  # still starting, or not ours
        if process_alive(int(owner["harness_pid"])):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(owner["postmaster_pid"]), signal.SIGQUIT)
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(workdir)
    return removed
