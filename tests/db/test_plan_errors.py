"""An EXPLAIN the harness cannot read is an `error` item with one line, on a real server: a
provider of the test's own, registered by name, issues EXPLAIN in the text format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.exits import EXIT_USAGE
from harness.server import providers
from harness.server.embedded import EmbeddedProvider
from harness.server.providers import ExplainForm
from support import copy_sample_project


class TextExplainProvider(EmbeddedProvider):
    """The embedded server, asked for EXPLAIN as text instead of JSON."""

    name = "text-explain"
    explain = ExplainForm(measured="ANALYZE, BUFFERS, FORMAT TEXT", planned="FORMAT TEXT")


@pytest.fixture
def text_explain() -> Iterator[str]:
    providers.register(TextExplainProvider)
    yield TextExplainProvider.name
    providers._REGISTERED.pop(TextExplainProvider.name, None)


def test_an_unreadable_explain_is_an_error_item(text_explain: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    project = copy_sample_project(tmp_path, 'plans_profile = "small"\nplans_runs = 1\n')
    code = main(["run", "--project-dir", str(project), "--plans-provider", text_explain])
    out = capsys.readouterr().out
    # every item errors and none ran before: a broken setup, not a regression
    assert code == EXIT_USAGE, out
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert errors and len(errors) == out.count("ERROR")
    for line in errors:
        assert "error: EXPLAIN output is not JSON" in line
    document = json.loads((project / "reports" / "results.json").read_text())
    assert {item["outcome"] for item in document["items"]} == {"error"}
    assert all("\n" not in item["reason"] for item in document["items"])
