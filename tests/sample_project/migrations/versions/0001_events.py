"""accounts and events tables

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL)")
    op.execute("CREATE TABLE events (id bigint PRIMARY KEY, account_id int NOT NULL, "
               "kind text NOT NULL, created_at timestamptz NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE events")
    op.execute("DROP TABLE accounts")
