"""Accounts: an API key may have an end (`API_KEY_DAYS` after it is made).

Keys made before this revision keep no end (NULL): rotate them, as the README says.

Revision ID: 0009_key_expiry
Revises: 0008_sso_identity
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_key_expiry"
down_revision = "0008_sso_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as keys:
        keys.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "expires_at")  # in place, as 0008's (SQLite since 3.35)
