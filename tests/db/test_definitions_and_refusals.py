"""`plan-harness definitions` on the sample project, and the commands that write into the
project's files or mutate named indexes refusing bad input before anything is measured."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import CliResult, copy_sample_project, run_cli

SCENARIO = Path("scenarios") / "account_feed.toml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_sample_project(tmp_path, 'plans_profile = "small"\nplans_runs = 2\n')


def cli(project: Path, *args: str) -> CliResult:
    return run_cli(*args, "--project-dir", str(project))


def test_definitions_are_shown_recorded_and_then_unchanged(project: Path) -> None:
    scenario = project / SCENARIO
    recorded = scenario.read_text()
    scenario.write_text(re.sub(r"\[expect\.definitions\]\n[^\n]*\n\n", "", recorded))
    shown = cli(project, "definitions")
    assert shown.returncode == 0, shown.stderr
    assert ("account_feed.toml: ix_events_account_id_created_at: not recorded; now INDEX ON "
            "public.events USING btree (account_id, created_at)") in shown.stdout
    assert "1 of 1 expected index definitions to record at revision 0002" in shown.stdout
    written = cli(project, "definitions", "--write")
    assert written.returncode == 0, written.stderr
    assert scenario.read_text() == recorded  # where and how the template has it
    again = cli(project, "definitions")
    assert "ix_events_account_id_created_at: recorded, unchanged" in again.stdout
    # redefined at another revision: shown as the change, recorded only with --write
    older = cli(project, "definitions", "--plans-revision", "0001")
    assert "ix_events_account_id_created_at: does not exist at this revision" in older.stdout


@pytest.fixture
def read_only_scenarios(project: Path) -> Iterator[Path]:
    """The project's scenarios/ on a read-only bind mount: even root cannot write there."""
    directory = project / "scenarios"
    mounted = subprocess.run(["mount", "--bind", str(directory), str(directory)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a read-only bind mount needs root (CI runs as root): {mounted.stderr}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True)
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


@pytest.mark.parametrize("command", ["budgets", "definitions"])
def test_write_into_read_only_scenarios_is_refused_before_anything_is_built(
        project: Path, read_only_scenarios: Path, command: str) -> None:
    result = cli(project, command, "--write")
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"plan-harness: error: {read_only_scenarios / 'account_feed.toml'}"
                            ": cannot write the "), error
    assert "nothing was built or measured" in error
    assert "ready in" not in result.stderr


def test_an_unknown_index_to_mutate_is_refused_before_anything_is_measured(
        project: Path) -> None:
    result = cli(project, "mutation-proof", "--index", "ix_nosuch")
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error == ("plan-harness: error: --index ix_nosuch: no such index at head "
                     "(indexes: accounts_pkey, events_pkey, ix_accounts_email, "
                     "ix_events_account_id_created_at)"), error
    assert "every case at" not in result.stderr
