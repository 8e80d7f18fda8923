"""Migrations of every kind a real one makes, on the CSR project at ci, on one built
database: the status list's index redefined under its name, made invalid, renamed; a
covering index for the dashboard beside the expected one; harmless ALTERs on calls; the
status list's index dropped, as the pull-request comment says it. The gate's verdicts and
compare's judgement, as in tests/db/test_index_changes.py."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest

from harness.report.analysis import compare
from harness.report.comment import comment_body
from harness.report.render import SUMMARY_TARGET_LINES, render_summary
from support import REPO, MigrationTrials

INDEX = "ix_calls_company_id_status"
RESTORE = [f"DROP INDEX {INDEX}", f"CREATE INDEX {INDEX} ON calls (company_id, status)"]
STATUS_LIST, DASHBOARD = "call_list_by_status[", "dashboard_metrics["


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigrationTrials]:
    root = tmp_path_factory.mktemp("csr-trials")
    for part in ("fixtures", "scenarios"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    with MigrationTrials(root, "ci", (STATUS_LIST, DASHBOARD)) as trials:
        yield trials


def status_list(outcomes: dict[str, str]) -> set[str]:
    return {outcome for item, outcome in outcomes.items() if item.startswith(STATUS_LIST)}


@pytest.mark.parametrize(("definition", "now"), [
    ("ON calls (company_id)", "(company_id) (was (company_id, status))"),
    ("ON calls (company_id, status) WHERE status <> 'cancelled'",
     "(company_id, status) WHERE (status <> 'cancelled'::text) (was (company_id, status))"),
    ("ON calls USING hash (company_id)", "INDEX ON public.calls USING hash (company_id) (was "
     "INDEX ON public.calls USING btree (company_id, status))"),
], ids=["fewer-columns", "partial", "another-method"])
def test_the_status_index_redefined_fails_naming_what_changed(
        trials: MigrationTrials, definition: str, now: str) -> None:
    trial = trials.trial([f"DROP INDEX {INDEX}", f"CREATE INDEX {INDEX} {definition}"], RESTORE)
    assert status_list(trial.outcomes()) == {"fail"}
    assert f"{INDEX} is now {now}" in trial.reasons("index_definition")
    regressed = {c.id for c in trial.comparison.regressions}
    assert {i for i in trial.outcomes() if i.startswith(STATUS_LIST)} <= regressed


def test_the_status_index_invalid_fails_saying_so(trials: MigrationTrials) -> None:
    trial = trials.invalid(INDEX)
    assert status_list(trial.outcomes()) == {"fail"}
    assert f"{INDEX} is INVALID" in trial.reasons("index_definition")[0]
    assert all(c.id.startswith(STATUS_LIST) for c in trial.comparison.regressions)
    assert len(trial.comparison.regressions) == 9


def test_a_renamed_status_index_warns_and_compare_sees_no_change(
        trials: MigrationTrials) -> None:
    trial = trials.trial([f"ALTER INDEX {INDEX} RENAME TO ix_calls_status_list"],
                         [f"ALTER INDEX ix_calls_status_list RENAME TO {INDEX}"])
    assert status_list(trial.outcomes()) == {"warn"}
    assert trial.reasons("index_renamed")[0].startswith(
        f"{INDEX} is now named ix_calls_status_list (same definition")
    assert not trial.comparison.regressions and not trial.comparison.improvements


def test_a_covering_dashboard_index_is_an_improvement(trials: MigrationTrials) -> None:
    trial = trials.trial(["CREATE INDEX ix_calls_dashboard ON calls (company_id, created_at) "
                          "INCLUDE (booked, status, duration_seconds)"],
                         ["DROP INDEX ix_calls_dashboard"])
    improved = {c.id for c in trial.comparison.improvements}
    assert not trial.comparison.regressions, [c.worse for c in trial.comparison.regressions]
    assert improved and all(i.startswith(DASHBOARD) for i in improved)
    assert all(r.startswith("the plans read calls through ix_calls_dashboard instead of")
               for r in trial.reasons("stale_expectation"))


def test_harmless_alters_on_calls_change_nothing(trials: MigrationTrials) -> None:
    trial = trials.trial([
        "COMMENT ON COLUMN calls.status IS 'the call outcome'",
        "ALTER TABLE calls ADD COLUMN review_note text",
        "ALTER TABLE calls ADD CONSTRAINT calls_duration_known "
        "CHECK (duration_seconds >= 0) NOT VALID",
        "CREATE FUNCTION calls_touch() RETURNS trigger LANGUAGE plpgsql "
        "AS $$BEGIN RETURN NEW; END$$",
        "CREATE TRIGGER calls_touch BEFORE UPDATE ON calls "
        "FOR EACH ROW EXECUTE FUNCTION calls_touch()",
    ], [
        "DROP TRIGGER calls_touch ON calls", "DROP FUNCTION calls_touch()",
        "ALTER TABLE calls DROP CONSTRAINT calls_duration_known",
        "ALTER TABLE calls DROP COLUMN review_note", "COMMENT ON COLUMN calls.status IS NULL",
    ])
    base = {r.verdict.outcome for r in trials.base}
    assert set(trial.outcomes().values()) <= base | {"pass"}
    assert not trial.comparison.regressions, [c.worse for c in trial.comparison.regressions]
    assert not trial.comparison.improvements, [c.better for c in trial.comparison.improvements]


# a path from the root of a file system, where a summary would name a runner's checkout
ABSOLUTE_PATH = re.compile(r"(?:^|[\s(`'\"=:])/(?:[\w.-]+/)+")


def test_a_dropped_status_index_is_one_line_of_a_short_summary(trials: MigrationTrials) -> None:
    trial = trials.trial([f"DROP INDEX {INDEX}"],
                         [f"CREATE INDEX {INDEX} ON calls (company_id, status)"])
    summary = render_summary(trial.document, compare(trial.document, trials.base_document))
    lines = summary.splitlines()
    assert len(lines) <= SUMMARY_TARGET_LINES == 30, summary
    assert summary.count(INDEX) <= 3, summary
    assert ABSOLUTE_PATH.search(summary) is None, summary
    assert str(trials.root) not in summary
    # the cause leads: one line for the nine items it broke, with how much they read more
    cause = next(line for line in lines if INDEX in line)
    assert re.fullmatch(rf"(1\. |- ){INDEX} dropped: 9 items regressed, buffers "
                        r"[\d.]+-[\d.,]+x", cause), cause
    table = next(n for n, line in enumerate(lines) if line.startswith("| item |"))
    assert lines.index(cause) < table
    assert sum(1 for line in lines if line.startswith(f"| {STATUS_LIST}")) >= 3
    # the warnings the base has too are a count, not a list
    warnings = [line for line in lines if line.startswith("Warnings: ")]
    assert len(warnings) <= 1
    assert not any(line.startswith("- `dashboard_metrics[") for line in lines)
    body = comment_body(summary, "compare", "https://ci.example/job/1/index.html")
    assert body.startswith(lines[0]) and body.count(INDEX) <= 3
