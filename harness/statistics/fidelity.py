"""Fidelity of projected plans: whether a small database given a big one's statistics
(--plans-stats) chooses the plans the big one chooses. Two results documents of the same
scenarios are compared item by item and plan mode by plan mode, on how each table is read:
the scan node and the index of every node that reads a relation."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.measure.plans import Plan

Access = tuple[tuple[str, str, str], ...]  # (relation, node type, index), sorted


def plan_access(plan: Plan) -> Access:
    """How a plan reads its relations."""
    found = {(node.relation or "", node.node_type, node.index or "")
             for node in plan.nodes()
             if node.relation is not None or node.index is not None}
    return tuple(sorted(found))


def describe(access: Access) -> str:
    return "; ".join(f"{node}{f' using {index}' if index else ''}{f' on {rel}' if rel else ''}"
                     for rel, node, index in access)


@dataclass(frozen=True)
class Disagreement:
    item: str
    mode: str
    real: str
    projected: str
    real_rows: float
    projected_rows: float


@dataclass
class Fidelity:
    compared: int = 0
    agreed: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # items only one side has
    # per agreeing plan: the projected plan's total cost over the real one's (1.0: the same)
    cost_ratios: list[float] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 0.0

    def cost_summary(self) -> dict[str, float]:
        """How far the agreeing plans' costs are from the real ones: the median ratio and
        the worst, as a factor either way (2.0: twice or half the real cost)."""
        if not self.cost_ratios:
            return {}
        worst = max(max(r, 1 / r) for r in self.cost_ratios if r > 0)
        return {"median_ratio": round(statistics.median(self.cost_ratios), 4),
                "worst_factor": round(worst, 4)}


def compare_documents(real: Mapping[str, Any], projected: Mapping[str, Any]) -> Fidelity:
    """Every (item, plan mode) of `real` against the same in `projected`."""
    fidelity = Fidelity()
    theirs = {(item["id"], mode["mode"]): mode
              for item in projected["items"] for mode in item["modes"]}
    for item in real["items"]:
        for mode in item["modes"]:
            other = theirs.pop((item["id"], mode["mode"]), None)
            if other is None:
                fidelity.missing.append(f"{item['id']} {mode['mode']}")
                continue
            fidelity.compared += 1
            real_plan, projected_plan = Plan.from_explain(mode["plan"]), Plan.from_explain(
                other["plan"])
            mine, its = plan_access(real_plan), plan_access(projected_plan)
            if mine == its:
                fidelity.agreed += 1
                real_cost = real_plan.root.total_cost
                if real_cost > 0:
                    fidelity.cost_ratios.append(projected_plan.root.total_cost / real_cost)
            else:
                fidelity.disagreements.append(Disagreement(
                    item["id"], mode["mode"], describe(mine), describe(its),
                    float(mode["estimated_rows"]), float(other["estimated_rows"])))
    fidelity.missing += [f"{item} {mode}" for item, mode in theirs]
    return fidelity
