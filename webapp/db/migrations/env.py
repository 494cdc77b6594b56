"""Alembic's environment: the engine comes from `migrate.alembic_config` (never from an ini file)."""
from __future__ import annotations

from alembic import context

from webapp.db.base import Base

config = context.config


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        # render_as_batch: SQLite alters tables by copying them; Alembic's batch mode does it for us.
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
