"""the account feed's index

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_account_id_created_at", "events", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_events_account_id_created_at", table_name="events")
