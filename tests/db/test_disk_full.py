"""A disk that fills up while seeding: one line naming the cause, exit 2, no cache entry,
no server left running, nothing left on the full disk. The server's data directory is put
on an 80 MB tmpfs (through TMPDIR), which the ci profile's calls table overflows."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.build.cache import BuildCache
from support import REPO, embedded_postgres_pids


@pytest.fixture
def small_disk() -> Iterator[Path]:
    # a short path: the server's Unix socket lives below it (at most 107 characters)
    mount_point = Path(tempfile.mkdtemp(prefix="ph-disk-", dir="/tmp"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"mounting a small tmpfs needs root (CI runs as root): {mounted.stderr}")
    mount_point.chmod(0o1777)  # the server runs as its own account
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)
    mount_point.rmdir()


def test_a_disk_that_fills_during_seeding_is_one_line(small_disk: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = set(embedded_postgres_pids(small_disk))
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--plans-cache-dir", str(cache),
         "--plans-report-dir", str(tmp_path / "reports"), "-k",
         "top_objections[largest-tenant-7-days]"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TMPDIR": str(small_disk)})
    assert result.returncode == 2, result.stderr[-2000:]
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("plan-harness: error: ") and "No space left on device" in error
    assert "Traceback" not in result.stderr
    assert BuildCache(cache).entries() == []
    assert not [p for p in cache.glob(".incomplete-*")]
    assert set(embedded_postgres_pids(small_disk)) <= before
    assert list((small_disk / "plan-harness").iterdir()) == []  # the run directory is gone
