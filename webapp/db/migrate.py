"""Alembic, driven from code: the migrations live in `webapp/db/migrations`. An empty database is
brought to the current revision; one at another revision than the code stops the start with a
message saying what to run."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaMismatch(RuntimeError):
    """The database is at a revision the code does not expect."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one at another revision."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    if current is None and not _has_tables(engine):
        upgrade(engine)
        return
    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if current is None:
        raise SchemaMismatch("The database has tables but no migration revision; point DATABASE_URL at this "
                             "service's database, or at an empty one.")
    if current in known:
        raise SchemaMismatch(f"The database is at revision {current}, older than this code's {head}: run "
                             "'flask --app webapp db upgrade' (make run does it for you).")
    raise SchemaMismatch(f"The database is at revision {current}, which this code does not know (it expects "
                         f"{head}): it was migrated by a newer version of the service; run that version.")


def _has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())
