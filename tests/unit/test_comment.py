"""plan-harness comment keeps one comment per marker on a pull or merge request: added once,
edited after, other comments untouched; bad input is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from forge import fake_forge

from harness.cli import main

SUMMARY = "## plan-harness: 0 failed, 1 warnings, 6 passed (7 items)\n"


def github_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("GITHUB_API_URL", url)
    monkeypatch.setenv("GITHUB_REPOSITORY", "team/plan-harness")
    monkeypatch.setenv("GITHUB_TOKEN", "secret-token")
    monkeypatch.setenv("GITHUB_REF", "refs/pull/7/merge")


def test_github_comment_is_added_once_then_edited(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    body = tmp_path / "summary.md"
    with fake_forge() as forge:
        # a page full of other people's comments first: the marker is searched on every page
        forge.comments += [{"id": n, "body": f"review {n}"} for n in range(100)]
        github_env(monkeypatch, forge.url)
        body.write_text(SUMMARY)
        assert main(["comment", "--forge", "github", "--body", str(body), "--marker", "compare",
                     "--link", "https://example.com/artifact/1"]) == 0
        body.write_text(SUMMARY.replace("1 warnings", "2 warnings"))
        assert main(["comment", "--forge", "github", "--body", str(body),
                     "--marker", "compare"]) == 0
    ours = [c for c in forge.comments if "plan-harness comment: compare" in c["body"]]
    assert len(ours) == 1 and len(forge.comments) == 101
    assert ours[0]["body"].startswith("## plan-harness: 0 failed, 2 warnings")
    assert [c["body"] for c in forge.comments[:100]] == [f"review {n}" for n in range(100)]
    written = [(m, p) for m, p, _ in forge.requests if m != "GET"]
    assert written == [("POST", "/repos/team/plan-harness/issues/7/comments"),
                       ("PATCH", f"/repos/team/plan-harness/issues/comments/{ours[0]['id']}")]
    assert forge.requests[0][2]["Authorization"] == "Bearer secret-token"


def test_gitlab_note_carries_the_report_link(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    body = tmp_path / "summary.md"
    body.write_text(SUMMARY)
    with fake_forge() as forge:
        monkeypatch.setenv("CI_API_V4_URL", forge.url + "/api/v4")
        monkeypatch.setenv("CI_PROJECT_ID", "42")
        monkeypatch.setenv("CI_MERGE_REQUEST_IID", "3")
        monkeypatch.setenv("PLAN_HARNESS_GITLAB_TOKEN", "glpat-x")
        for _ in range(2):
            assert main(["comment", "--forge", "gitlab", "--body", str(body),
                         "--link", "https://gitlab.example.com/job/1/artifacts/file/r.html"]) == 0
    assert len(forge.comments) == 1
    assert "[The full HTML report](https://gitlab.example.com/job/1/artifacts/file/r.html)" in (
        forge.comments[0]["body"])
    assert [m for m, _, _ in forge.requests if m != "GET"] == ["POST", "PUT"]
    assert forge.requests[0][2]["Private-Token"] == "glpat-x"


def test_missing_variable_or_refusal_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "summary.md"
    body.write_text(SUMMARY)
    monkeypatch.delenv("CI_PROJECT_ID", raising=False)
    monkeypatch.setenv("CI_API_V4_URL", "http://127.0.0.1:9/api/v4")
    assert main(["comment", "--forge", "gitlab", "--body", str(body)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "plan-harness: error: comment --forge gitlab: CI_PROJECT_ID is not set "
        "(run this in the CI job, or set it)"]
    with fake_forge() as forge:
        forge.status = 403
        github_env(monkeypatch, forge.url)
        assert main(["comment", "--forge", "github", "--body", str(body)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "HTTP 403" in error[0]
