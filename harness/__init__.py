"""plan-harness: EXPLAIN-plan regression tests for PostgreSQL.

What a project's own code imports (its data generator) is exported here; everything else is
the engine's (docs/writing-a-project.md). The exports are imported on first use, so that
`plan-harness --help` and the pure parts of the engine start without the database driver."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness.version import __version__

if TYPE_CHECKING:
    from harness.build.datagen import (
        Generator,
        LoadContext,
        SeedContext,
        lower_bounds,
        skewed_weights,
    )
    from harness.project.manifest import Bound

# export -> the module that defines it
_EXPORTS = {
    "Generator": "harness.build.datagen",
    "LoadContext": "harness.build.datagen",
    "SeedContext": "harness.build.datagen",
    "lower_bounds": "harness.build.datagen",
    "skewed_weights": "harness.build.datagen",
    "Bound": "harness.project.manifest",
}

__all__ = ["Bound", "Generator", "LoadContext", "SeedContext", "__version__", "lower_bounds",
           "skewed_weights"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
