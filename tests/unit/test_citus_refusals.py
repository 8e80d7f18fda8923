"""What a cluster cannot do yet is refused in one line (exit 2) before any server starts."""

from __future__ import annotations

import pytest

from support import REPO, run_cli


@pytest.mark.parametrize(("args", "expected"), [
    (["run", "--plans-stats", "fixtures/stats/capacity.json"],
     "--plans-stats plans on one node's statistics; it cannot be used with --plans-provider "
     "citus"),
    (["run", "--plans-profile", "design-100m"],
     "profile design-100m plans with projected statistics on one node; it cannot run on "
     "--plans-provider citus"),
    (["mutation-proof"], "mutation-proof: not on a distributed provider (citus) yet"),
])
def test_what_a_cluster_cannot_do_yet_is_one_line(args: list[str], expected: str) -> None:
    result = run_cli(*args, "--plans-provider", "citus", "--project-dir", str(REPO))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert expected in line
