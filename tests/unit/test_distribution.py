"""The project's [distribution] declaration: read field by field, checked without a server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import preflight
from harness.errors import ConfigError
from harness.project.manifest import read_project
from support import REPO


def csr_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "fixtures", tmp_path / "fixtures", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    return tmp_path


def test_csr_declares_its_tenant_columns() -> None:
    project = read_project(REPO / "fixtures", REPO / "scenarios")
    distribution = project.distribution
    assert distribution is not None
    assert distribution.tables["calls"] == "company_id"
    assert distribution.tables["call_analysis"] == "tenant_id"
    assert distribution.shards("ci") == 8
    assert preflight.check_inputs(project).problems == []


def test_a_table_a_scenario_reads_must_be_declared(tmp_path: Path) -> None:
    root = csr_copy(tmp_path)
    manifest = root / "fixtures" / "project.toml"
    manifest.write_text(manifest.read_text().replace('message_threads = "company_id"\n', ""))
    project = read_project(root / "fixtures", root / "scenarios")
    problems = preflight.check_inputs(project).problems
    assert any(p.endswith("message_thread_page.toml: table 'message_threads' is not declared "
                          "in [distribution] (tables or reference)") for p in problems)
    assert any("anchors.longest_thread_contact: table 'message_threads'" in p for p in problems)


def test_a_distribution_column_the_chain_does_not_give_its_table_is_named(
        tmp_path: Path) -> None:
    root = csr_copy(tmp_path)
    manifest = root / "fixtures" / "project.toml"
    manifest.write_text(manifest.read_text().replace('call_analysis = "tenant_id"',
                                                     'call_analysis = "company_id"'))
    problems = preflight.check_inputs(read_project(root / "fixtures", root / "scenarios")).problems
    assert problems == ["[distribution] tables.call_analysis: the chain's call_analysis has no "
                        "column company_id"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("ci = 8,", "ci = 0,", "distribution.shard_count.ci: must be between 1 and 4096, not 0"),
    ('colocate_with = "companies"', 'colocate_with = "nowhere"',
     "distribution.colocate_with: 'nowhere' is not a distributed table"),
    ('migrations = "migrations_citus"', 'migrations = "gone"', "distribution.migrations: no "
     "such directory"),
    ("reference = []", "reference = [\"calls\"]", "distribution.reference: calls is also a "
     "distributed table"),
    ("reference = []", "shards = 3", "distribution.shards: unknown field"),
])
def test_a_bad_declaration_is_one_line_naming_the_field(tmp_path: Path, old: str, new: str,
                                                        expected: str) -> None:
    root = csr_copy(tmp_path)
    manifest = root / "fixtures" / "project.toml"
    manifest.write_text(manifest.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as refused:
        read_project(root / "fixtures", root / "scenarios")
    assert str(refused.value).startswith(f"{manifest}: ")
    assert expected in str(refused.value)
