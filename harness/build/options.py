"""Build options: what a build reads of the settings (built by the front end's config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.build.cache import default_cache_dir
from harness.server.providers import ServerOptions


@dataclass(frozen=True)
class BuildOptions:
    """What a build reads of the settings: the server, the seed, and the cache."""

    server: ServerOptions = field(default_factory=ServerOptions)
    seed: int = 1
    cache: str = "on"  # on (reuse or build and keep), off, refresh (rebuild and replace)
    cache_dir: Path = field(default_factory=default_cache_dir)
