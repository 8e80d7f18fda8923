"""Migrations of every kind a real one makes to an expected index, on one built database of
the sample project (examples/minimal): the gate's verdicts and compare's judgement. A
regression fails naming the index and what changed, an improvement counts as improved, a
harmless change passes with nothing regressed or improved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import MigrationTrials, copy_sample_project

INDEX = "ix_events_account_id_created_at"
RESTORE = [f"DROP INDEX {INDEX}", f"CREATE INDEX {INDEX} ON events (account_id, created_at)"]


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigrationTrials]:
    root = copy_sample_project(tmp_path_factory.mktemp("trials"))
    with MigrationTrials(root, "small") as trials:
        yield trials


def test_the_base_passes_with_its_definition_recorded(trials: MigrationTrials) -> None:
    assert {r.verdict.outcome for r in trials.base} == {"pass"}
    assert not [f for r in trials.base for f in r.verdict.findings
                if f.check == "index_definition"]


@pytest.mark.parametrize(("definition", "now"), [
    ("ON events (account_id)", "(account_id) (was (account_id, created_at))"),
    ("ON events (account_id, created_at) WHERE account_id > 0",
     "(account_id, created_at) WHERE (account_id > 0) (was (account_id, created_at))"),
    ("ON events USING hash (account_id)", "INDEX ON public.events USING hash (account_id) "
     "(was INDEX ON public.events USING btree (account_id, created_at))"),
], ids=["fewer-columns", "partial", "another-method"])
def test_a_same_named_index_redefined_fails_naming_what_changed(
        trials: MigrationTrials, definition: str, now: str) -> None:
    trial = trials.trial([f"DROP INDEX {INDEX}", f"CREATE INDEX {INDEX} {definition}"], RESTORE)
    assert set(trial.outcomes().values()) == {"fail"}, trial.outcomes()
    assert trial.reasons("index_definition") == [f"{INDEX} is now {now}"] * len(trials.cases)
    assert len(trial.comparison.regressions) == len(trials.cases)
    assert not trial.comparison.improvements


def test_an_invalid_index_fails_saying_so(trials: MigrationTrials) -> None:
    trial = trials.invalid(INDEX)
    assert set(trial.outcomes().values()) == {"fail"}
    for result in trial.results:
        assert result.verdict.first_reason.startswith(
            f"index_definition: {INDEX} is INVALID"), result.verdict.first_reason
    assert len(trial.comparison.regressions) == len(trials.cases)


def test_a_rename_to_the_same_definition_warns_naming_the_new_name(
        trials: MigrationTrials) -> None:
    trial = trials.trial([f"ALTER INDEX {INDEX} RENAME TO ix_events_feed"],
                         [f"ALTER INDEX ix_events_feed RENAME TO {INDEX}"])
    assert set(trial.outcomes().values()) == {"warn"}
    assert trial.reasons("index_renamed") == [
        f"{INDEX} is now named ix_events_feed (same definition: INDEX ON public.events USING "
        "btree (account_id, created_at))"] * len(trials.cases)
    assert not trial.comparison.regressions and not trial.comparison.improvements


def test_a_better_covering_index_under_a_new_name_is_an_improvement(
        trials: MigrationTrials) -> None:
    trial = trials.trial(["CREATE INDEX ix_events_feed_covering ON events "
                          "(account_id, created_at) INCLUDE (id, kind)"],
                         ["DROP INDEX ix_events_feed_covering"])
    assert set(trial.outcomes().values()) == {"warn"}, [
        r.verdict.first_reason for r in trial.results]
    (stale, *_) = trial.reasons("stale_expectation")
    assert stale.startswith(f"the plans read events through ix_events_feed_covering instead "
                            f"of {INDEX}, with fewer shared buffers in every mode")
    assert not trial.comparison.regressions
    assert len(trial.comparison.improvements) == len(trials.cases)


def test_harmless_changes_pass_with_nothing_regressed_or_improved(
        trials: MigrationTrials) -> None:
    trial = trials.trial([
        "COMMENT ON TABLE events IS 'what accounts did'",
        "ALTER TABLE events ADD COLUMN note text",
        "ALTER TABLE events ADD CONSTRAINT events_kind_set CHECK (kind <> '') NOT VALID",
        "CREATE FUNCTION events_touch() RETURNS trigger LANGUAGE plpgsql "
        "AS $$BEGIN RETURN NEW; END$$",
        "CREATE TRIGGER events_touch BEFORE UPDATE ON events "
        "FOR EACH ROW EXECUTE FUNCTION events_touch()",
    ], [
        "DROP TRIGGER events_touch ON events", "DROP FUNCTION events_touch()",
        "ALTER TABLE events DROP CONSTRAINT events_kind_set",
        "ALTER TABLE events DROP COLUMN note", "COMMENT ON TABLE events IS NULL",
    ])
    assert set(trial.outcomes().values()) == {"pass"}, [
        r.verdict.first_reason for r in trial.results]
    assert not trial.comparison.regressions and not trial.comparison.improvements


def test_the_project_is_left_as_it_was(trials: MigrationTrials) -> None:
    assert sorted(p.name for p in trials.versions.glob("*.py")) == [
        "0001_events.py", "0002_index.py"]
