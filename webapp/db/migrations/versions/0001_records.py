"""The decision record: batches, the Loan_ID index into their archives, and deletion entries.

Revision ID: 0001_records
Revises:
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0001_records"
down_revision = None
branch_labels = None
depends_on = None

DIGEST = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("input_name", sa.Text(), nullable=False),
        sa.Column("input_sha256", DIGEST, nullable=False),
        sa.Column("input_size", sa.BigInteger(), nullable=False),
        sa.Column("input_format", sa.String(20), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("model_sha256", DIGEST, nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("code_version", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("scored", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("archive", sa.Text(), nullable=True),
        sa.Column("archive_data", sa.LargeBinary(), nullable=True),
        sa.Column("data_digest", DIGEST, nullable=True),
        sa.Column("prev_digest", DIGEST, nullable=True),
        sa.Column("digest", DIGEST, nullable=True),
        sa.Column("indexed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.UniqueConstraint("seq", name="uq_batches_seq"),
    )
    op.create_index("ix_batches_created_at", "batches", ["created_at"])
    op.create_index("ix_batches_actor", "batches", ["actor"])
    # Lookups read the archives of complete batches not yet indexed: a partial index finds those few.
    op.create_index("ix_batches_unindexed", "batches", ["status"], sqlite_where=sa.text("NOT indexed"),
                    postgresql_where=sa.text("NOT indexed"))
    # No rowid on SQLite: the primary key is the table, so a batch's index rows (inserted in key
    # order) cost one B-tree, not two.
    op.create_table(
        "decision_index",
        sa.Column("loan_key", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("batch_seq", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("row", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("loan_key", "batch_seq", "row", name="pk_decision_index"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("scored", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("data_digest", DIGEST, nullable=True),
        sa.Column("prev_digest", DIGEST, nullable=True),
        sa.Column("digest", DIGEST, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deletions"),
        sa.UniqueConstraint("batch_id", name="uq_deletions_batch_id"),
        sa.UniqueConstraint("seq", name="uq_deletions_seq"),
    )


def downgrade() -> None:
    op.drop_table("deletions")
    op.drop_table("decision_index")
    op.drop_index("ix_batches_unindexed", "batches")
    op.drop_index("ix_batches_actor", "batches")
    op.drop_index("ix_batches_created_at", "batches")
    op.drop_table("batches")
