"""accounts and events

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("accounts",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("email", sa.String, nullable=False))
    op.create_table("events",
                    sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"),
                              nullable=False),
                    sa.Column("kind", sa.String, nullable=False),
                    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("accounts")
