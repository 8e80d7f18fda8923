"""Scenario files: the repository's own load, and every malformed file is named by field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.project.scenarios import AnchorRef, read_scenario, read_scenarios
from support import REPO

GOOD = """
table = "calls"
sql = "SELECT * FROM calls WHERE company_id = %(c)s AND created_at >= %(since)s"
[expect]
index = "ix_a"
[[cases]]
name = "Largest tenant, 30 days"
values = { c = "@largest_tenant", since = "@data_end - 30 days" }
"""

SEED_INDEXES = [
    "ix_appointments_company_id_scheduled_start", "ix_appointments_scheduled_start",
    "ix_calls_company_id_created_at", "ix_calls_company_id", "ix_calls_created_at",
    "ix_calls_company_id_status", "ix_calls_assigned_rep_id_created_at",
    "ix_calls_company_id_booked", "ix_message_threads_contact_card_id_created_at",
    "ix_call_analysis_tenant_id_analyzed_at",
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    scenario = read_scenario(write(tmp_path, GOOD))
    assert scenario.name == "scenario"
    assert scenario.parameters == ("c", "since")
    assert scenario.positional_sql().endswith("company_id = $1 AND created_at >= $2")
    case = scenario.cases[0]
    assert case.id == "largest-tenant-30-days"
    assert case.values["c"] == AnchorRef("largest_tenant")
    assert str(case.values["since"]) == "@data_end - 30 days, 0:00:00"


BROKEN = [
    (GOOD.replace('table = "calls"', 'table = "calls'), "not valid TOML"),
    (GOOD.replace('table = "calls"\n', ""), "table: missing"),
    (GOOD.replace('table = "calls"', "table = 3"), "table: must be a string, not 3"),
    (GOOD + 'colour = "red"\n', "colour: unknown field"),
    (GOOD.replace('index = "ix_a"', "index = []"), "expect.index: must name at least one"),
    (GOOD.replace('index = "ix_a"', 'index = "ix_a"\nplan_modes = ["fast"]'),
     "expect.plan_modes: unknown mode 'fast'"),
    (GOOD.replace('since = "@data_end - 30 days"', 'since = "@data_end - 30 weeks"'),
     "cases[0].values.since: cannot read anchor"),
    (GOOD.replace(', since = "@data_end - 30 days"', ""), "cases[0].values.since: missing"),
    (GOOD.replace('c = "@largest_tenant"', 'c = "x", limit = 5'),
     "cases[0].values.limit: unknown parameter"),
    (GOOD.replace("%(c)s", "%s"), "sql: use named placeholders"),
    (GOOD + "[budget]\np95_ms = { ci = -1 }\n", "budget.p95_ms.ci: must be positive"),
    (GOOD + "[budget]\nshared_buffers = { ci = 1.5 }\n",
     "budget.shared_buffers.ci: must be an integer"),
    (GOOD.split("[[cases]]")[0].replace('table = "calls"', 'table = "calls"\ncases = []'),
     "cases: at least one case is needed"),
    (GOOD + '[[cases]]\nname = "largest tenant, 30 days"\n'
            'values = { c = "y", since = 2025-01-01 }\n', "cases[1].name"),
    (GOOD.replace('values = {', 'expect = { index = ["ix_b"], speed = 1 }\nvalues = {'),
     "cases[0].expect.speed: unknown field"),
    (GOOD + "[budget]\nshared_buffers = { ci = { fast = 10 } }\n",
     "budget.shared_buffers.ci.fast: unknown field (allowed: custom, generic)"),
    (GOOD + "[budget]\np95_ms = { ci = { generic = 0 } }\n",
     "budget.p95_ms.ci.generic: must be positive"),
    (GOOD.replace('index = "ix_a"', 'index = "ix_a"\n[expect.definitions]\nix_a = "btree (c)"'),
     "expect.definitions.ix_a: 'btree (c)' is not an index definition"),
    (GOOD.replace('index = "ix_a"', 'index = "ix_a"\n[expect.definitions]\n'
                  'ix_b = "INDEX ON public.calls USING btree (c)"'),
     "expect.definitions.ix_b: not an index this scenario expects (expected: ix_a)"),
]


@pytest.mark.parametrize(("text", "problem"), BROKEN)
def test_a_broken_file_is_named_with_its_field(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as error:
        read_scenario(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message.strip() or "TOML" in problem


def test_repository_scenarios_load_and_cover_every_seed_index() -> None:
    scenarios = read_scenarios(REPO / "scenarios")
    expected = {name for s in scenarios for c in s.cases for name in c.expect.indexes}
    base = {name for s in scenarios for name in s.expect.indexes}
    for index in SEED_INDEXES:
        assert index in expected, f"no scenario expects {index}"
    # Each index is the scenario-level expectation of at least one file, apart from
    # ix_calls_company_id, which only appears in an any-of (the planner prefers a longer
    # company_id index; see scenarios/calls_by_tenant.toml).
    assert set(SEED_INDEXES) - base <= {"ix_calls_company_id"}


def test_repository_scenarios_keep_the_seed_sql_with_bound_parameters() -> None:
    for scenario in read_scenarios(REPO / "scenarios"):
        assert "'tenant_123'" not in scenario.sql
        assert re.search(r"%\(\w+\)s", scenario.sql), scenario.name


def test_the_seed_query_for_the_call_list_is_kept_verbatim() -> None:
    scenario = read_scenario(REPO / "scenarios" / "call_list_by_date_range.toml")
    seed = ("SELECT *\nFROM calls\nWHERE company_id = 'tenant_123'\n  AND created_at >= "
            "'2025-01-01'\n  AND created_at <= '2025-01-31'\nORDER BY created_at DESC\n"
            "LIMIT 100 OFFSET 0")
    ours = (scenario.sql.replace("%(company_id)s", "'tenant_123'")
            .replace("%(start)s", "'2025-01-01'").replace("%(end)s", "'2025-01-31'")
            .replace("%(offset)s", "0"))
    assert ours == seed
