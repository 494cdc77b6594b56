"""Batch jobs: the `finishing` state (the worker is completing the job's batch; a cancel is refused).

Revision ID: 0006_jobs_finishing
Revises: 0005_credentials_generation
"""
from alembic import op

revision = "0006_jobs_finishing"
down_revision = "0005_credentials_generation"
branch_labels = None
depends_on = None

OLD = "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"
NEW = "state IN ('queued', 'running', 'finishing', 'succeeded', 'failed', 'cancelled')"


def _state_check(condition: str) -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_state"), type_="check")
        batch.create_check_constraint(op.f("ck_jobs_state"), condition)


def upgrade() -> None:
    _state_check(NEW)


def downgrade() -> None:
    op.execute("UPDATE jobs SET state = 'running' WHERE state = 'finishing'")
    _state_check(OLD)
