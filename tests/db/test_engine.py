"""The database's engine across processes: gunicorn loads the app in its master and forks the web
workers, so a worker must start with no connection of its parent's."""
import os

from sqlalchemy import text

from webapp.db import Database


def test_a_forked_child_never_uses_its_parents_connections(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'fork.db'}")
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert database.engine.pool.checkedin() == 1  # kept in the pool for the next checkout
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report what its pool holds, then leave without running pytest's exit
        try:
            inherited = database.engine.pool.checkedin()
            with database.engine.connect() as connection:  # a connection of its own
                connection.execute(text("SELECT 1"))
            os.write(writer, b"fresh" if inherited == 0 else b"inherited")
        finally:
            os._exit(0)
    os.close(writer)
    answer = os.read(reader, 32)
    os.close(reader)
    os.waitpid(child, 0)
    assert answer == b"fresh"
    with database.engine.connect() as connection:  # the parent's own connection still works
        assert connection.execute(text("SELECT 1")).scalar() == 1
    database.dispose()
