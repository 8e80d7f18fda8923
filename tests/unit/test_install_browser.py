"""tools/install-browser.sh waits a bounded time for a package lock another apt-get holds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import REPO

SCRIPT = REPO / "tools" / "install-browser.sh"
# stands in for apt-get: records its arguments, installs nothing
FAKE_APT_GET = '#!/bin/sh\necho "$@" >> "$APT_LOG"\n'


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs only as root")
def test_apt_get_waits_for_the_package_lock(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(FAKE_APT_GET)
    (bin_dir / "apt-get").chmod(0o755)
    id_path = shutil.which("id")
    assert id_path is not None
    (bin_dir / "id").symlink_to(id_path)
    log = tmp_path / "apt.log"
    # only these two commands on PATH, so no Chromium is found and apt-get is the fake
    env = {"PATH": str(bin_dir), "APT_LOG": str(log), "PLAN_HARNESS_APT_LOCK_WAIT": "42"}
    result = subprocess.run(["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "-o DPkg::Lock::Timeout=42 update -qq",
        "-o DPkg::Lock::Timeout=42 install -y -qq chromium",
    ]
