"""Accounts: an account can be retired, freeing its address for a new person, and each account has
the name the record knows it by (`actor`: empty for the first holder of an address, whose name is
the address; the address and `#2`, `#3`… for later holders of the same address).

Every account made before this revision is its address's first holder: nothing to fill.

Revision ID: 0010_retired_accounts
Revises: 0009_key_expiry
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_retired_accounts"
down_revision = "0009_key_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("actor", sa.String(200), nullable=True))
        users.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        users.create_index("ix_users_actor", ["actor"], unique=True)


def downgrade() -> None:
    # Without the column a later holder of an address would act as the bare address again, and see
    # the leaver's batches: refused while any account was retired or acts under another name.
    marked = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM users WHERE actor IS NOT NULL OR retired_at IS NOT NULL")).scalar()
    if marked:
        raise RuntimeError(f"{marked} account(s) are retired or act as a later holder of an address; going below "
                           "0010 would give a newcomer the leaver's records. Remove those accounts first.")
    # In place, as 0008's (SQLite since 3.35): a batch copy of `users` breaks on its keys' foreign keys.
    op.drop_index("ix_users_actor", "users")
    op.drop_column("users", "retired_at")
    op.drop_column("users", "actor")
