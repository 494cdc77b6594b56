"""The database's engine: its errors never quote a statement's values; and across processes: gunicorn loads the app in its master and forks the web
workers, so a worker must start with no connection of its parent's, and leave the parent's alone."""
import gc
import os

import pytest
from sqlalchemy import text

from webapp.db import Database


def test_a_forked_child_never_uses_its_parents_connections(database_url):
    database = Database(database_url)
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        parents = connection.connection.driver_connection
    assert database.engine.pool.checkedin() == 1  # kept in the pool for the next checkout
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report what its pool holds, then leave without running pytest's exit
        try:
            inherited = database.engine.pool.checkedin()
            with database.engine.connect() as connection:  # a connection of its own
                connection.execute(text("SELECT 1"))
            gc.collect()  # the parent's connection objects, dropped here, must not end its session
            os.write(writer, b"fresh" if inherited == 0 else b"inherited")
        finally:
            os._exit(0)
    os.close(writer)
    answer = os.read(reader, 32)
    os.close(reader)
    os.waitpid(child, 0)
    assert answer == b"fresh"
    cursor = parents.cursor()  # on the driver: the pool's pre-ping would hide a session ended by the child
    cursor.execute("SELECT 1")
    assert cursor.fetchone()[0] == 1
    cursor.close()
    database.dispose()


def test_a_failing_statement_never_quotes_its_values(database_url):
    from sqlalchemy.exc import DBAPIError

    database = Database(database_url)
    try:
        with pytest.raises(DBAPIError) as failed, database.engine.connect() as connection:
            connection.execute(text("SELECT * FROM no_such_table WHERE income = :income"), {"income": 5720.25})
        assert "5720.25" not in str(failed.value)
    finally:
        database.dispose()
