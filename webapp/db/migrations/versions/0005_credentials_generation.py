"""The credentials generation counter, which the per-process API-key cache checks.

Revision ID: 0005_credentials_generation
Revises: 0004_jobs
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_credentials_generation"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    generation = op.create_table(
        "credentials_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials_generation")),
    )
    op.bulk_insert(generation, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("credentials_generation")
