"""Statistics source: where a run's loaded planner statistics come from (a --plans-stats file,
or a projected profile's: a committed file or its source profile captured now, scaled), read
and checked before anything is loaded."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from harness.build.builder import DatabaseBuilder
from harness.build.datagen import Progress
from harness.build.options import BuildOptions
from harness.errors import ConfigError
from harness.project.manifest import Profile, Project, Projected
from harness.server.needs import ServerNeeds
from harness.statistics.capture import capture, fidelity_note, gates, read_statistics, scaled
from harness.statistics.load import StatisticsLoader


@dataclass(frozen=True)
class StatisticsSource:
    loader: StatisticsLoader
    facts: dict[str, str]  # what the report says of them (file, source, fidelity, preview)

    @property
    def preview(self) -> bool:
        return self.facts["preview"] == "yes"


def statistics_option(stats: Path | None, profile: Profile) -> str | None:
    """The option that loads statistics into this run's database, or None."""
    if stats is not None:
        return "--plans-stats"
    if profile.projected is not None:
        return f"--plans-profile {profile.name} (projected)"
    return None


def statistics_source(stats: Path | None, build: BuildOptions, project: Project,
                      profile: Profile, revision: str,
                      progress: Progress) -> StatisticsSource | None:
    """--plans-stats FILE (read, and refused when corrupt, before anything is loaded), or a
    projected profile's statistics; None when the run plans on its own data."""
    if profile.projected is not None and stats is not None:
        raise ConfigError(f"--plans-profile {profile.name} is projected and brings its "
                          "own statistics: drop --plans-stats")
    if profile.projected is not None:
        statistics = _projected(build, project, profile.projected, profile.name, revision,
                                progress)
        origin = f"{project.profiles_path}: {profile.name}"
    elif stats is not None:
        statistics, origin = read_statistics(stats), str(stats)
    else:
        return None
    facts = {
        "file": origin,
        "source": str(statistics.get("source", "")),
        "captured_at": str(statistics.get("captured_at", "")),
        "fidelity": fidelity_note(statistics, profile.name, revision),
        "preview": "no" if gates(statistics, profile.name, revision) else "yes"}
    return StatisticsSource(StatisticsLoader(statistics, origin, progress), facts)


def _projected(build: BuildOptions, project: Project, projected: Projected, name: str,
               revision: str, progress: Progress) -> dict[str, Any]:
    if projected.stats is not None:
        return _file_scaled(project, projected, name, projected.stats, revision, progress)
    source = project.profile(projected.source)
    progress(f"profile {name}: capturing the statistics of profile {source.name}, "
             f"to scale them by {projected.scale:g} and plan on {projected.onto}")
    captured = _capture(build, project, source, revision, progress)
    _check_projected_tables(project, captured, projected, name, f"profile {source.name}")
    return scaled(captured, projected.scale, f"profile {source.name} x{projected.scale:g} "
                                             f"({captured['source']})", projected.tables)


def _capture(build: BuildOptions, project: Project, source: Profile, revision: str,
             progress: Progress) -> dict[str, Any]:
    """The source profile's statistics, from its database built (or reused) for this."""
    with contextlib.ExitStack() as stack:
        builder = DatabaseBuilder(build, project, progress, stack, ServerNeeds())
        built = builder.provide(source, revision)
        assert builder.server is not None
        with psycopg.connect(built.conninfo, autocommit=True) as conn:
            return capture(conn, f"{builder.server.label}, revision {revision}, profile "
                           f"{source.name}", project.anchors, source.planner, project.manifest)


def _check_projected_tables(project: Project, statistics: Mapping[str, Any],
                            projected: Projected, name: str, source: str) -> None:
    """The tables a projected profile scales apart must be in the statistics."""
    known = {r["name"] for r in statistics["relations"] if r["kind"] == "table"}
    for table in projected.tables:
        if table not in known:
            raise ConfigError(f"{project.profiles_path}: {name}.projected.tables."
                              f"{table}: no table {table!r} in {source}")


def _file_scaled(project: Project, projected: Projected, name: str, path: Path, revision: str,
                 progress: Progress) -> dict[str, Any]:
    """A projected profile's committed statistics of its source, scaled: nothing of the
    source is loaded. A file not checked onto `onto` at this revision still plans, as a
    preview, and the progress says how to check and stamp it again."""
    statistics = read_statistics(path)
    progress(f"profile {name}: the statistics of profile {projected.source} from "
             f"{path}, scaled by {projected.scale:g}, planned on {projected.onto}")
    if not gates(statistics, projected.onto, revision):
        progress(f"{path}: {fidelity_note(statistics, projected.onto, revision)}; a "
                 f"preview. Capture, check and stamp it again with: plan-harness stats "
                 f"stamp --plans-profile {projected.source} --onto {projected.onto} "
                 f"--out {path}")
    _check_projected_tables(project, statistics, projected, name, str(path))
    label = f"profile {projected.source} x{projected.scale:g} ({statistics.get('source', path)})"
    return scaled(statistics, projected.scale, label, projected.tables)
