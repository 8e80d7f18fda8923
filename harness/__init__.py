"""plan-harness: EXPLAIN-plan regression tests for PostgreSQL.

What a project's own code imports (its data generator) is exported here; everything else is
the engine's (docs/writing-a-project.md)."""

__version__ = "0.1.0"

# Imported after __version__: the engine's modules read it from here.
from harness.build.datagen import Generator, SeedContext, lower_bounds, skewed_weights
from harness.project.manifest import Bound

__all__ = ["Bound", "Generator", "SeedContext", "__version__", "lower_bounds", "skewed_weights"]
