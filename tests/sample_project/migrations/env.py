"""Alembic environment of the sample project (same as the CSR one).

plan-harness passes an open connection in `config.attributes["connection"]`; run by hand,
`alembic -x dsn=postgresql+psycopg://... upgrade head` works too."""

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run_migrations(connection) -> None:
    # One transaction per migration, so a migration's autocommit_block() (needed for
    # CREATE INDEX CONCURRENTLY) only commits that migration's own earlier statements.
    context.configure(connection=connection, target_metadata=None,
                      transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("dsn") or config.get_main_option(
        "sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_migrations(conn)
        conn.commit()
