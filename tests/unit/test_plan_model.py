"""The plan model on hand-made documents: one-line PlanErrors, node expanders, its readers."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import harness.run
from harness.config import Config
from harness.errors import PlanError
from harness.measure.citus import expand_citus_scan
from harness.measure.plans import (
    Plan,
    node_expanders,
    plans_below,
    register_node_expander,
    unregister_node_expander,
)
from harness.project.manifest import read_project
from harness.project.scenarios import read_scenario
from harness.report.analysis import estimate_factor, explain_text, plan_diff, plan_tree
from harness.statistics.fidelity import plan_access
from support import REPO, catalog_of, plan_sample


def _refusal(document: Any) -> str:
    with pytest.raises(PlanError) as refused:
        Plan.from_explain(document)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_text_that_is_not_json_is_one_line_naming_it() -> None:
    message = _refusal('[{"Plan": {"Node Type": "Seq Scan",\n "Plan Rows": 1')
    assert message.startswith("EXPLAIN output is not JSON: ")
    assert "line 2" in message


def test_json_text_is_read_like_the_parsed_document() -> None:
    text = json.dumps(plan_sample("index_scan.json"))
    assert Plan.from_explain(text) == Plan.from_explain(plan_sample("index_scan.json"))


@pytest.mark.parametrize(("document", "expected"), [
    ([], "no 'Plan' key in []"),
    ([{"Query Text": "SELECT 1"}], "no 'Plan' key"),
    ("QUERY PLAN\n Seq Scan on t", "not JSON"),
    ([{"Plan": {"Plan Rows": 1}}], "the plan's root is not a plan node with a 'Node Type'"),
    ([{"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "Sort", "Plans": [7]}]}}],
     "a node under Limit > Sort is not a plan node"),
    ([{"Plan": {"Node Type": "Seq Scan", "Plan Rows": "many"}}],
     "the node Seq Scan: could not convert string to float: 'many'"),
    ([{"Plan": {"Node Type": "Limit", "Plans": {"Node Type": "Sort"}}}],
     "Limit node: 'Plans' is not a list"),
    ([{"Plan": {"Node Type": "Result"}, "Execution Time": "soon"}], "could not convert"),
])
def test_a_malformed_document_is_a_plan_error_of_one_line(document: Any, expected: str) -> None:
    assert expected in _refusal(document)


# A Citus coordinator's plan, cut down: the Custom Scan carries its workers' plans inside.
CITUS = plan_sample("citus_adaptive.json")


def citus_worker_plans(node: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """The worker plans of a Citus custom scan, as a Citus provider would open them."""
    tasks = node.get("Distributed Query", {}).get("Job", {}).get("Tasks", [])
    for task in tasks:
        yield from (explained["Plan"] for explained in _flat(task.get("Remote Plan", [])))


def _flat(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        for part in value:
            yield from _flat(part)
    elif isinstance(value, Mapping):
        yield value


def citus(document: Any = CITUS) -> Plan:
    return Plan.from_explain(copy.deepcopy(document), expanders=(plans_below, citus_worker_plans))


@pytest.fixture
def _without_citus_expander() -> Iterator[None]:
    """The mechanism alone: harness.measure.citus registers its expander on import."""
    unregister_node_expander(expand_citus_scan)
    yield
    register_node_expander(expand_citus_scan)


@pytest.mark.usefixtures("_without_citus_expander")
def test_by_default_only_plans_are_followed() -> None:
    plan = Plan.from_explain(copy.deepcopy(CITUS))
    assert [n.node_type for n in plan.nodes()] == ["Custom Scan"]
    assert node_expanders() == (plans_below,)


def test_the_citus_expander_is_registered_by_default() -> None:
    assert node_expanders() == (plans_below, expand_citus_scan)
    assert [n.node_type for n in Plan.from_explain(copy.deepcopy(CITUS)).nodes()] == [
        "Custom Scan", "Citus Task", "Index Scan", "Citus Task", "Seq Scan"]


def test_an_expander_opens_the_plans_a_node_holds() -> None:
    plan = citus()
    assert plan.shape() == ("Custom Scan", "Index Scan using ix_calls_company_id_102008 on "
                            "calls_102008", "Seq Scan on calls_102009")
    assert plan.indexes_used() == {"ix_calls_company_id_102008"}
    # the node keeps its own fields for display; the plans it opened are its children
    assert plan.root.details["Custom Plan Provider"] == "Citus Adaptive"


@pytest.mark.usefixtures("_without_citus_expander")
def test_a_registered_expander_opens_every_plan_read_after() -> None:
    register_node_expander(citus_worker_plans)
    try:
        plan = Plan.from_explain(copy.deepcopy(CITUS))
        assert len(plan.root.children) == 2
        assert node_expanders() == (plans_below, citus_worker_plans)
        # the report reads stored plans through the same model
        assert len(plan_tree(copy.deepcopy(CITUS[0])).children) == 2
    finally:
        unregister_node_expander(citus_worker_plans)
    assert Plan.from_explain(copy.deepcopy(CITUS)).root.children == ()


def test_the_report_and_fidelity_see_the_opened_plans() -> None:
    plan = citus()
    tree = plan_tree(plan)
    assert [child.label for child in tree.children] == [
        "Index Scan using ix_calls_company_id_102008 on calls_102008", "Seq Scan on calls_102009"]
    lines = explain_text(plan).splitlines()
    assert lines[0] == "Custom Scan  (cost=0.00..0.00 rows=100 width=16)"
    assert "  ->  Seq Scan on calls_102009  (cost=0.00..35.50 rows=50 width=16)" in lines
    assert "        Filter: (company_id = 7)" in lines
    indexed = json.loads(json.dumps(CITUS).replace('"Seq Scan"', '"Index Scan", "Index Name": '
                                                   '"ix_calls_company_id_102009"'))
    diff = plan_diff(plan, citus(indexed))
    assert diff.headline == ("Seq Scan on calls_102009 -> Index Scan using "
                             "ix_calls_company_id_102009 on calls_102009")
    assert plan_access(plan) == (
        ("calls_102008", "Index Scan", "ix_calls_company_id_102008"),
        ("calls_102009", "Seq Scan", ""))


def test_a_node_never_executed_has_no_estimate_factor_and_says_so() -> None:
    document = copy.deepcopy(plan_sample("join.json"))
    inner = document[0]["Plan"]["Plans"][0]["Plans"][1]
    inner.update({"Actual Loops": 0, "Actual Rows": 0})
    for key in ("Actual Startup Time", "Actual Total Time"):
        inner.pop(key, None)
    plan = Plan.from_explain(document)
    node = plan.root.children[0].children[1]
    assert node.never_executed and estimate_factor(node) is None
    assert any(line.endswith("(never executed)") for line in explain_text(plan).splitlines())


def test_a_plan_the_harness_cannot_read_is_the_items_error_verdict(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_case turns the measurement step's PlanError into an error item, not a
    traceback: the step (which needs a server) is replaced by one that parses what a server
    might send."""
    scenario_file = tmp_path / "calls.toml"
    scenario_file.write_text('table = "calls"\nsql = "SELECT * FROM calls"\n[expect]\nindex = "ix"\n'
                             '[[cases]]\nname = "one"\nvalues = {}\n')
    scenario = read_scenario(scenario_file)
    config = Config.resolve({}, {}, {}, tmp_path)
    project = read_project(REPO / "fixtures", REPO / "scenarios")

    def unreadable_explain(*args: Any, **kwargs: Any) -> Any:
        return [Plan.from_explain("EXPLAIN is not available on this server")]

    run = harness.run.PlanRun(config.run_options(), project, lambda line: None)
    monkeypatch.setattr(run, "_measure", unreadable_explain)
    run.database.catalog = catalog_of({"calls": 10.0}, frozenset({"ix"}), "head", "ci")
    result = run.run_case(scenario, scenario.cases[0])
    assert result.verdict.outcome == "error"
    assert result.verdict.first_reason.startswith("error: EXPLAIN output is not JSON: ")
    assert result.measurements == ()
