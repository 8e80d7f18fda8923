"""The harness's version, the one source (pyproject.toml reads it too)."""

__version__ = "0.1.0"
