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


def test_a_read_never_waits_behind_a_writer_on_sqlite(tmp_path):
    """A big batch's index being written must not stall key checks and look-ups: reads begin
    deferred and, under WAL, see the last committed state at once."""
    import time

    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with database.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    writer = database.engine.connect()
    writer.begin()  # BEGIN IMMEDIATE: holds the write lock
    writer.exec_driver_sql("INSERT INTO t VALUES (2)")
    started = time.monotonic()
    with database.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1
    assert time.monotonic() - started < 1  # the busy timeout is 30 s: it did not wait
    writer.rollback()
    writer.close()
    database.dispose()


def test_a_database_that_cannot_be_reached_stops_the_start_with_one_line(model_path, tmp_path):
    from webapp import create_app

    with pytest.raises(SystemExit) as stopped:
        create_app({"TESTING": True, "SECRET_KEY": "t", "MODEL_PATH": str(model_path),
                    "DATABASE_URL": "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/nowhere"})
    message = str(stopped.value)
    assert message.startswith("error: the database at postgresql+psycopg://postgres:***@127.0.0.1:1/nowhere "
                              "cannot be reached (OperationalError)")
    assert "s3cret" not in message and "DATABASE_URL" in message


def test_the_migrations_build_exactly_the_tables_the_models_declare(migrated_database):
    """Alembic's own comparison of the migrated schema with the models: a column, index or table
    in one and not the other is a migration someone forgot."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import webapp.accounts.models, webapp.jobs.models, webapp.records.models, webapp.registry.models  # noqa: E401,F401
    from webapp.db.base import Base

    with migrated_database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_accounts_revisions_go_down_and_up_again_keeping_users_and_their_keys(database_url):
    from alembic import command

    from webapp.db.migrate import alembic_config, upgrade

    database = Database(database_url)
    upgrade(database.engine)
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO users (email, role, disabled, created_at) "
                                "VALUES ('ann@bank.example', 'analyst', false, CURRENT_TIMESTAMP)"))
        connection.execute(text("INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) "
                                "VALUES (1, '', 'lbs_x', 'h', CURRENT_TIMESTAMP)"))
    command.downgrade(alembic_config(database.engine), "0007_digest_version")  # foreign keys point at users
    upgrade(database.engine)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 1
    database.dispose()


def test_an_upgrade_keeps_the_accounts_made_before_it(database_url):
    from webapp.db.migrate import upgrade

    database = Database(database_url)
    upgrade(database.engine, "0007_digest_version")
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO users (email, role, disabled, created_at) "
                                "VALUES ('ann@bank.example', 'analyst', false, CURRENT_TIMESTAMP)"))
    upgrade(database.engine)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT email, sso_subject FROM users")).all() == [("ann@bank.example", None)]
    database.dispose()


def test_going_below_0010_is_refused_while_an_account_is_retired(database_url):
    """Without `users.actor` a newcomer given a leaver's address would act as the bare address again."""
    from alembic import command

    from webapp.db.migrate import alembic_config, upgrade

    database = Database(database_url)
    upgrade(database.engine)
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO users (email, role, disabled, created_at, actor, retired_at) VALUES "
                                "('retired#1:ann@bank.example', 'analyst', true, CURRENT_TIMESTAMP, "
                                "'ann@bank.example', CURRENT_TIMESTAMP)"))
    with pytest.raises(RuntimeError, match="retired"):
        command.downgrade(alembic_config(database.engine), "0009_key_expiry")
    database.dispose()
