"""A projected profile whose statistics come from a committed file (`projected.stats`): the
source profile is never seeded, a file checked at another revision plans as a preview and
says how to stamp it again, and a missing file is one line naming the field."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import cli, project  # noqa: F401  (the sample project fixture)

PROFILE = '\n[huge]\n[huge.projected]\nfrom = "small"\nscale = 1000\nonto = "small"\n'


def test_a_projected_profile_plans_from_its_statistics_file(
        project: Path, tmp_path: Path) -> None:  # noqa: F811
    stats = project / "fixtures" / "small-stats.json"
    captured = cli(project, "stats", "capture", "--out", str(stats))
    assert captured.returncode == 0, captured.stderr
    document = json.loads(stats.read_text())
    document["fidelity"] = {"onto": "small", "revision": "0000", "compared": 4, "agreed": 4}
    stats.write_text(json.dumps(document))
    with (project / "fixtures" / "profiles.toml").open("a") as profiles:
        profiles.write(PROFILE + 'stats = "small-stats.json"\n')
    result = cli(project, "run", "--plans-profile", "huge")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "capturing the statistics" not in result.stderr  # nothing seeded for them
    assert f"the statistics of profile small from {stats}, scaled by 1000" in result.stderr
    assert (f"not checked onto small at 0002; a preview. Capture, check and stamp it again "
            f"with: plan-harness stats stamp --plans-profile small --onto small --out {stats}"
            in result.stderr)
    run = json.loads((project / "reports" / "results.json").read_text())["run"]
    assert run["profile"] == "huge" and run["statistics"]["preview"] == "yes"
    assert "profile small x1000" in run["statistics"]["source"]


def test_a_missing_statistics_file_is_one_line(project: Path) -> None:  # noqa: F811
    with (project / "fixtures" / "profiles.toml").open("a") as profiles:
        profiles.write(PROFILE + 'stats = "nowhere.json"\n')
    result = cli(project, "run", "--plans-profile", "huge")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"plan-harness: error: {project / 'fixtures' / 'profiles.toml'}: huge.projected.stats: "
        f"{project / 'fixtures' / 'nowhere.json'} does not exist"]


TINY = '\n[tiny]\n[tiny.data]\nevents = 2000\naccounts = 40\n'


def test_stats_stamp_checks_the_projection_and_then_it_gates(
        project: Path, tmp_path: Path) -> None:  # noqa: F811
    with (project / "fixtures" / "profiles.toml").open("a") as profiles:
        profiles.write(TINY)
    stats = tmp_path / "small-stats.json"
    stamped = cli(project, "stats", "stamp", "--onto", "tiny", "--out", str(stats))
    assert stamped.returncode == 0, stamped.stdout + stamped.stderr
    assert "4 of 4 plans agreed projected onto tiny at revision 0002" in stamped.stdout
    fidelity = json.loads(stats.read_text())["fidelity"]
    assert (fidelity["onto"], fidelity["revision"], fidelity["agreed"],
            fidelity["compared"]) == ("tiny", "0002", 4, 4)
    # the stamp recorded a check onto tiny at this revision: the projected run gates
    projected = cli(project, "run", "--plans-profile", "tiny", "--plans-stats", str(stats),
                    "--plans-report-dir", str(tmp_path / "projected"))
    assert projected.returncode == 0, projected.stdout + projected.stderr
    run = json.loads((tmp_path / "projected" / "results.json").read_text())["run"]
    assert run["statistics"]["preview"] == "no"


def test_stats_stamp_without_onto_or_onto_a_projected_profile_is_one_line(
        project: Path) -> None:  # noqa: F811
    with (project / "fixtures" / "profiles.toml").open("a") as profiles:
        profiles.write(PROFILE)
    for args, message in (
            ((), "stats stamp: --onto PROFILE is missing (the small profile the statistics "
                 "are projected onto)"),
            (("--onto", "huge"), "stats stamp: --onto huge is a projected profile; the check "
                                 "compares a built profile with a built small one")):
        result = cli(project, "stats", "stamp", "--out", "x.json", *args)
        assert (result.returncode, result.stderr.strip()) == (2, f"plan-harness: error: {message}")
