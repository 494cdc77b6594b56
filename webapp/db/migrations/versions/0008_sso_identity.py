"""Accounts: each user remembers the single sign-on identity (issuer, subject) it is bound to.

Accounts already signed in through SSO are bound at their next sign-in, by their email as before.

Revision ID: 0008_sso_identity
Revises: 0007_digest_version
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_sso_identity"
down_revision = "0007_digest_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("sso_issuer", sa.String(255), nullable=True))
        users.add_column(sa.Column("sso_subject", sa.String(255), nullable=True))
        users.create_index("ix_users_sso_identity", ["sso_issuer", "sso_subject"], unique=True)


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies `users` and drops it, which its keys' and sessions'
    # foreign keys refuse. Both databases drop a column in place (SQLite since 3.35).
    op.drop_index("ix_users_sso_identity", "users")
    op.drop_column("users", "sso_subject")
    op.drop_column("users", "sso_issuer")
