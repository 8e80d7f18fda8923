"""index for the per-account feed

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_events_account_id_created_at ON events (account_id, created_at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_events_account_id_created_at")
