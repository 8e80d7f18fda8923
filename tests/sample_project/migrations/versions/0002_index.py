"""indexes for the per-account feed and the account lookup by email

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_events_account_id_created_at ON events (account_id, created_at)")
    op.execute("CREATE UNIQUE INDEX ix_accounts_email ON accounts (email)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_accounts_email")
    op.execute("DROP INDEX ix_events_account_id_created_at")
