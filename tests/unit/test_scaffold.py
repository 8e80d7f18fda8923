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
