"""`plan-harness stats stamp`: the fidelity check that lets a projected run gate. The
planner statistics of a real, built profile are captured, every case is planned there (the
truth) and again on a small profile with those statistics loaded (the projection), and the
plans are compared relation by relation (harness.statistics.fidelity). The statistics are
then written with the outcome in them: a projected run with the file onto the same small
profile at the same revision gates only when every plan agreed
(harness.statistics.capture.gates)."""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.build.datagen import Progress
from harness.errors import ConfigError
from harness.lifecycle import Lifecycle
from harness.options import RunOptions
from harness.project.manifest import Project
from harness.project.scenarios import Case, Scenario, read_scenarios
from harness.report.document import Document, results_document
from harness.statistics.capture import capture, write_statistics
from harness.statistics.fidelity import Fidelity, compare_documents

Cases = list[tuple[Scenario, Case]]


@dataclass(frozen=True)
class Stamped:
    fidelity: Fidelity
    statistics: dict[str, Any]  # with "fidelity" recorded


def check_profiles(project: Project, source: str, onto: str) -> None:
    """Both profiles built ones: refused before a server starts."""
    for flag, name in (("--plans-profile", source), ("--onto", onto)):
        if project.profile(name).projected is not None:
            raise ConfigError(f"stats stamp: {flag} {name} is a projected profile; the check "
                              "compares a built profile with a built small one")


def stamp(config: RunOptions, project: Project, onto: str, progress: Progress) -> Stamped:
    cases = [(s, c) for s in read_scenarios(project.scenarios_dir) for c in s.cases]
    # the plans are compared, not the timings: one timed run each
    settings = replace(config, runs=1, warmup=0, migration_check=False, baseline=None,
                       update_baseline=False, stats=None)
    statistics, real = _captured_and_planned(settings, project, cases, progress)
    with tempfile.TemporaryDirectory(prefix="plan-harness-stamp-") as tmp:
        path = Path(tmp) / "statistics.json"
        write_statistics(path, statistics)
        progress(f"stats stamp: planning on {onto} with the statistics of {config.profile}")
        projected = _planned(replace(settings, profile=onto, stats=path), project, cases,
                             progress)
    fidelity = compare_documents(real, projected)
    statistics["fidelity"] = {
        "onto": onto, "revision": real["run"]["revision"], "compared": fidelity.compared,
        "agreed": fidelity.agreed,
        "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return Stamped(fidelity, statistics)


def _captured_and_planned(settings: RunOptions, project: Project, cases: Cases,
                          progress: Progress) -> tuple[dict[str, Any], Document]:
    with Lifecycle(settings, project, progress) as life:
        run = life.run
        label = (f"{run.facts.server}, revision {run.facts.revision}, profile "
                 f"{settings.profile}, seed {settings.seed}")
        statistics = capture(run.connection, label, project.anchors,
                             project.profile(settings.profile).planner, project.manifest)
        progress(f"stats stamp: planning every case on {settings.profile} itself")
        return statistics, results_document(run.facts, life.measure(cases))


def _planned(settings: RunOptions, project: Project, cases: Cases, progress: Progress) -> Document:
    with Lifecycle(settings, project, progress) as life:
        return results_document(life.run.facts, life.measure(cases))
