"""Plans and timings under EXPLAIN ANALYZE, and what they need from the database."""

# Plans read anywhere (a run, a re-rendered report) open a distributed plan's Citus scan: its
# module registers the node expander on import.
from harness.measure import citus as _citus  # noqa: F401
