"""The decision record: a deletion entry keeps the purged batch's header (its canonical JSON) and
digest version, so verify can recompute the batch's digest from it and tell a purge from a batch
removed by hand behind a forged entry (see `records.services.verify`).

Entries written before this revision have neither: verify checks only their link, as before.

Revision ID: 0011_deletion_headers
Revises: 0010_retired_accounts
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_deletion_headers"
down_revision = "0010_retired_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deletions") as deletions:
        deletions.add_column(sa.Column("header", sa.Text(), nullable=True))
        deletions.add_column(sa.Column("digest_version", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deletions") as deletions:
        deletions.drop_column("digest_version")
        deletions.drop_column("header")
