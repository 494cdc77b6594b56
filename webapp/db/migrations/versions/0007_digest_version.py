"""The decision record: each batch names the digest version it was recorded in (empty: version 1).

Version 2 of the data digest hashes the same decisions in fewer bytes (validity as bits, lengths as
LEB128); batches recorded before keep version 1, and verify recomputes each in its own.

Revision ID: 0007_digest_version
Revises: 0006_jobs_finishing
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_digest_version"
down_revision = "0006_jobs_finishing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("digest_version", sa.String(8), nullable=True))


def downgrade() -> None:
    # Nothing is deleted; batches recorded in version 2 then verify only once upgraded again.
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("digest_version")
