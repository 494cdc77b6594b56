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
    with op.batch_alter_table("users") as users:
        users.drop_index("ix_users_sso_identity")
        users.drop_column("sso_subject")
        users.drop_column("sso_issuer")
