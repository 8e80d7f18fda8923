"""`plan-harness init` writes the template's files only: never what a run of the template in
place (examples/minimal links to it) left beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.project import scaffold


def test_a_runs_leftovers_are_not_part_of_a_new_project(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    template = tmp_path / "harness" / scaffold.TEMPLATE
    for name in ("fixtures/project.toml", "scenarios/feed.toml", "reports/index.html",
                 "reports/base/results.json", "fixtures/__pycache__/datagen.pyc",
                 ".pytest_cache/README.md"):
        (template / name).parent.mkdir(parents=True, exist_ok=True)
        (template / name).write_text(name)
    monkeypatch.setattr(scaffold.importlib.resources, "files",
                        lambda package: tmp_path / package)
    assert list(scaffold.template_files()) == ["fixtures/project.toml", "scenarios/feed.toml"]


def test_a_gitignore_that_is_there_is_kept_and_the_ci_file_is_written(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("mine\n")
    written = scaffold.write_project(tmp_path, ci="gitlab")
    assert (tmp_path / ".gitignore").read_text() == "mine\n"
    assert tmp_path / ".gitignore" not in written
    assert (tmp_path / ".gitlab-ci.yml").read_text() == scaffold.ci_file("gitlab")[1]
    assert 'PLAN_HARNESS_REQUIREMENT: "plan-harness==' in (tmp_path / ".gitlab-ci.yml").read_text()


def test_the_github_workflow_goes_where_github_reads_it(tmp_path: Path) -> None:
    scaffold.write_project(tmp_path, ci="github")
    assert (tmp_path / ".github" / "workflows" / "plans.yml").is_file()
    assert (tmp_path / ".gitignore").read_text() == scaffold.gitignore().decode()
