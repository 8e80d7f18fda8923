"""plan-harness: EXPLAIN-plan regression tests for PostgreSQL."""

__version__ = "0.1.0"
