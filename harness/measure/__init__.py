"""Plans and timings under EXPLAIN ANALYZE, and what they need from the database."""
