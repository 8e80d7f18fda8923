"""The CSR index migration against a real PostgreSQL: upgrade, downgrade, re-run, INVALID
repair, duplicates by definition, and a short statement_timeout."""

from __future__ import annotations

import psycopg
import pytest

from harness.build import migrations as schema
from harness.errors import SchemaError
from harness.server.provisioning import HarnessDatabase
from support import REPO

MIGRATIONS = REPO / "fixtures" / "migrations"
BASE, HEAD = "20250115000000", "20250130000000"
MODEL_TWIN = "ix_analysis_tenant_analyzed"
SEED_INDEXES = {  # the seed document's ten, by name and columns
    "ix_appointments_company_id_scheduled_start": ("appointments", ("company_id", "scheduled_start")),
    "ix_appointments_scheduled_start": ("appointments", ("scheduled_start",)),
    "ix_calls_company_id_created_at": ("calls", ("company_id", "created_at")),
    "ix_calls_company_id": ("calls", ("company_id",)),
    "ix_calls_created_at": ("calls", ("created_at",)),
    "ix_calls_company_id_status": ("calls", ("company_id", "status")),
    "ix_calls_assigned_rep_id_created_at": ("calls", ("assigned_rep_id", "created_at")),
    "ix_calls_company_id_booked": ("calls", ("company_id", "booked")),
    "ix_message_threads_contact_card_id_created_at": ("message_threads",
                                                      ("contact_card_id", "created_at")),
    "ix_call_analysis_tenant_id_analyzed_at": ("call_analysis", ("tenant_id", "analyzed_at")),
}

INDEXES_SQL = """
SELECT ix.relname, tbl.relname, i.indisvalid, i.indisunique,
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)
FROM pg_index i JOIN pg_class ix ON ix.oid = i.indexrelid JOIN pg_class tbl ON tbl.oid = i.indrelid
WHERE ix.relnamespace = 'public'::regnamespace AND NOT i.indisprimary
"""


def indexes(db: HarnessDatabase) -> dict[str, tuple[str, bool, bool, tuple[str, ...]]]:
    with psycopg.connect(db.conninfo) as conn:
        rows = conn.execute(INDEXES_SQL).fetchall()
    return {name: (table, valid, unique, tuple(cols)) for name, table, valid, unique, cols in rows}


def execute(db: HarnessDatabase, *statements: str) -> None:
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def test_upgrade_builds_the_seed_indexes_without_duplicating_the_model_index(
        database: HarnessDatabase) -> None:
    schema.upgrade(database.conninfo, MIGRATIONS, "head")
    found = indexes(database)
    for name, (table, columns) in SEED_INDEXES.items():
        if name == "ix_call_analysis_tenant_id_analyzed_at":
            continue
        assert found[name] == (table, True, False, columns), name
    # IF NOT EXISTS would have built a second index on call_analysis(tenant_id, analyzed_at).
    same = [n for n, v in found.items() if v[0] == "call_analysis" and v[3] == (
        "tenant_id", "analyzed_at")]
    assert same == [MODEL_TWIN]
    assert schema.current_revision(database.conninfo) == HEAD


def test_downgrade_removes_them_and_keeps_the_model_index(database: HarnessDatabase) -> None:
    schema.upgrade(database.conninfo, MIGRATIONS, "head")
    schema.downgrade(database.conninfo, MIGRATIONS, BASE)
    assert set(indexes(database)) == {MODEL_TWIN}
    assert schema.current_revision(database.conninfo) == BASE


def test_running_the_migration_again_changes_nothing(database: HarnessDatabase) -> None:
    schema.upgrade(database.conninfo, MIGRATIONS, "head")
    first = indexes(database)
    schema.stamp(database.conninfo, MIGRATIONS, BASE)
    schema.upgrade(database.conninfo, MIGRATIONS, "head")
    assert indexes(database) == first


def test_without_the_model_index_the_documented_name_is_built(database: HarnessDatabase) -> None:
    schema.upgrade(database.conninfo, MIGRATIONS, BASE)
    execute(database, f"DROP INDEX {MODEL_TWIN}")
    schema.upgrade(database.conninfo, MIGRATIONS, "head")
    assert indexes(database)["ix_call_analysis_tenant_id_analyzed_at"] == (
        "call_analysis", True, False, ("tenant_id", "analyzed_at"))


def test_an_invalid_index_from_a_failed_concurrent_build_is_rebuilt(
        database: HarnessDatabase) -> None:
    schema.upgrade(database.conninfo, MIGRATIONS, BASE)
    execute(database,
            "INSERT INTO companies (id, name) VALUES ('c1', 'Acme')",
            "INSERT INTO calls (id, company_id, direction, status) VALUES "
            "('a', 'c1', 'inbound', 'missed'), ('b', 'c1', 'inbound', 'missed')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        execute(database, "CREATE UNIQUE INDEX CONCURRENTLY ix_calls_company_id ON calls "
                          "(company_id)")
    assert indexes(database)["ix_calls_company_id"][1:3] == (False, True)  # INVALID, unique
    schema.upgrade(database.conninfo, MIGRATIONS, "head")
    assert indexes(database)["ix_calls_company_id"] == ("calls", True, False, ("company_id",))


def test_a_same_named_index_with_other_columns_stops_the_migration(
        database: HarnessDatabase) -> None:
    schema.upgrade(database.conninfo, MIGRATIONS, BASE)
    execute(database, "CREATE INDEX ix_calls_company_id ON calls (status)")
    with pytest.raises(SchemaError, match="ix_calls_company_id exists with another definition"):
        schema.upgrade(database.conninfo, MIGRATIONS, "head")


def test_a_short_statement_timeout_does_not_kill_the_builds(database: HarnessDatabase) -> None:
    schema.upgrade(database.conninfo, MIGRATIONS, BASE)
    execute(database,
            "INSERT INTO companies (id, name) VALUES ('c1', 'Acme')",
            "SET session_replication_role = replica",
            "INSERT INTO calls (id, company_id, direction, status, created_at) "
            "SELECT md5(i::text), 'c' || (i % 50), 'inbound', 'missed', "
            "now() - i * interval '1 minute' FROM generate_series(1, 300000) i",
            f"ALTER DATABASE {database.name} SET statement_timeout = '20ms'")
    # The timeout is really in force for a plain build.
    with psycopg.connect(database.conninfo) as conn, pytest.raises(
            psycopg.errors.QueryCanceled):
        conn.execute("CREATE INDEX probe ON calls (company_id, created_at)")
    schema.upgrade(database.conninfo, MIGRATIONS, "head")
    assert indexes(database)["ix_calls_company_id_created_at"][1] is True


def test_an_unknown_revision_is_named() -> None:
    with pytest.raises(SchemaError, match="unknown revision 'nope'"):
        schema.Revisions(MIGRATIONS).resolve("nope")
