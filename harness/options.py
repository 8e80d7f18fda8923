"""Options: what one run reads of the settings, built by the front end's config (the CLI and
the pytest plugin alike); the engine below the front ends never sees the whole Config."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.build.options import BuildOptions
from harness.server.providers import ServerOptions
from harness.verdict.gate import Policy


@dataclass(frozen=True)
class RunOptions:
    build: BuildOptions = field(default_factory=BuildOptions)
    profile: str = "ci"
    revision: str = "head"
    runs: int = 20  # timed executions per plan mode
    warmup: int = 3
    allow_existing_db: bool = False  # plan on the DSN's own database, read-only
    existing_db_budgets: str = ""  # the profile whose budgets apply to that database
    baseline: Path | None = None
    update_baseline: bool = False
    migration_check: bool = False
    max_write_wait_ms: int = 200
    stats: Path | None = None  # a statistics file to load instead of planning on the data
    policy: Policy = field(default_factory=Policy)

    @property
    def seed(self) -> int:
        return self.build.seed

    @property
    def server(self) -> ServerOptions:
        return self.build.server
