"""A PostgreSQL server (embedded, by DSN, in a container) and the harness's database."""
