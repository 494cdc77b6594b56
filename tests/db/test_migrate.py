"""The schema: created in an empty database, refused at a revision the code does not know."""
import pytest
from sqlalchemy import text

from webapp.db import Database, SchemaMismatch, ensure_schema
from webapp.db.migrate import current_revision, head_revision


def test_an_empty_database_is_brought_to_the_current_revision(database_url):
    database = Database(database_url)
    ensure_schema(database.engine)
    assert current_revision(database.engine) == head_revision()
    database.dispose()


def test_a_database_migrated_by_newer_code_stops_the_start_with_what_to_do(database_url):
    database = Database(database_url)
    ensure_schema(database.engine)
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('ffffffffffff')"))
    with pytest.raises(SchemaMismatch, match="newer version"):
        ensure_schema(database.engine)
    database.dispose()


def test_sqlite_is_set_for_parallel_writers(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    database.dispose()
