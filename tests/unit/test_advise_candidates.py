"""Candidates derived from what the planner saw: each kind from one scan's conditions, a
literal of the SQL told from a parameter, and the [advise] table refused field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.advise.candidates import COVERING, GENERATED, PARTIAL, REORDERED, generated_candidates
from harness.advise.conditions import comparisons, conjuncts, sort_keys
from harness.errors import ConfigError
from harness.measure.plans import Plan
from harness.project.advising import read_advise
from harness.project.tomlfields import FieldReader


def _plan(filter_text: str, sort: list[str] | None = None,
          output: list[str] | None = None) -> Plan:
    scan = {"Node Type": "Seq Scan", "Relation Name": "events", "Alias": "events",
            "Filter": filter_text, "Output": output or ["events.id"]}
    root = ({"Node Type": "Sort", "Sort Key": sort, "Plans": [scan]} if sort else scan)
    return Plan.from_explain([{"Plan": root}])


def test_conditions_are_split_and_classified() -> None:
    text = ("((events.account_id = $1) AND (events.created_at >= $2) AND "
            "((events.kind)::text = 'click'::text) AND (events.note IS NOT NULL))")
    assert len(conjuncts(text)) == 4
    found = {c.column: c for c in comparisons(text, "events")}
    assert found["account_id"].kind == "equality" and not found["account_id"].literal
    assert found["created_at"].kind == "range"
    assert found["kind"].literal and found["kind"].text == "(kind)::text = 'click'::text"
    assert found["note"].kind == "other" and found["note"].literal
    assert [(k.column, k.descending) for k in sort_keys(["events.created_at DESC"], "events")] \
        == [("created_at", True)]


def test_each_kind_is_generated_from_a_generic_plan() -> None:
    plan = _plan("((events.account_id = $1) AND (events.kind = $2) AND "
                 "(events.created_at >= $3) AND ((events.kind)::text <> 'bot'::text))",
                 sort=["events.created_at DESC"],
                 output=["events.account_id", "events.created_at"])
    made = generated_candidates("feed", [plan], [True])
    kinds = {c.kind: c for c in made}
    assert kinds[GENERATED].columns == ("account_id", "kind", "created_at DESC")
    assert kinds[PARTIAL].where == "(kind)::text <> 'bot'::text"
    assert kinds[REORDERED].columns == ("kind", "account_id", "created_at DESC")
    assert all(c.name.startswith("ix_adv_events_") and len(c.name) <= 63 for c in made)


def test_a_custom_plan_never_makes_a_partial_index() -> None:
    """A custom plan shows a parameter's value as a constant: no partial index from it."""
    plan = _plan("((events.account_id = 7) AND (events.created_at >= '2024-01-01'))")
    made = generated_candidates("feed", [plan], [False])
    assert PARTIAL not in {c.kind for c in made}
    assert made[0].columns == ("account_id", "created_at")


def test_a_covering_index_carries_the_columns_an_aggregate_needs() -> None:
    plan = _plan("((events.account_id = $1) AND (events.created_at >= $2))",
                 output=["events.kind"])
    covering = [c for c in generated_candidates("count", [plan], [True]) if c.kind == COVERING]
    assert covering[0].columns == ("account_id", "created_at") and covering[0].include == ("kind",)


@pytest.mark.parametrize(("toml", "message"), [
    ('candidates = [{ name = "ix", table = "t" }]', "advise.candidates[0].columns: missing"),
    ('candidates = [{ name = "ix", table = "t", columns = ["a b"] }]',
     "advise.candidates[0].columns: must be a list of column names"),
    ('max_size_ratio = 0', "advise.max_size_ratio: must be above 0"),
    ('colour = 1', "advise.colour: unknown field"),
])
def test_the_advise_table_is_refused_field_by_field(toml: str, message: str) -> None:
    import tomllib

    reader = FieldReader(Path("project.toml"), ConfigError, {"advise": tomllib.loads(toml)})
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_advise(reader, reader.data)
