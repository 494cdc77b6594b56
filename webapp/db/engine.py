"""Engines and sessions. One `Database` per process (created by the factory or a worker); a session
per request or per job from `Database.session()`, never shared across threads."""
from __future__ import annotations

import contextlib
import functools
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "loan_read_only"  # an execution option: this connection only reads
SQLITE_BUSY_TIMEOUT_MS = 30_000  # parallel uploads wait for the writer rather than fail "database is locked"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; emit BEGIN ourselves
        # (IMMEDIATE: a writer takes the lock up front, so two writers queue instead of deadlocking).
        # Reads say so (`Database.reader`) and begin deferred: under WAL they never wait for a writer,
        # so a big batch's index being written never stalls a key check or a look-up.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


# hide_parameters: a failing statement's error (logged, or raised to a handler) never quotes its
# bound values, which may be an applicant's, or a person's email.


def _sqlite_begin(connection) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    # On the driver: through exec_driver_sql, SQLAlchemy's execution context for a bare BEGIN cost
    # more than SQLite's own work, on every transaction (a key check, a look-up, a job's step).
    connection.connection.dbapi_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; the "begin" listener opens transactions
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable with WAL at each checkpoint; far fewer fsyncs
    cursor.close()


def _forget_parent_connections(database_ref) -> None:
    database = database_ref()
    if database is not None:
        database.engine.dispose(close=False)  # drop the inherited pool without closing the parent's sessions


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        # gunicorn loads the app (and opens connections) in its master, then forks the workers: a
        # child must never use its parent's connections (two processes on one PostgreSQL session
        # collide, e.g. both preparing `_pg3_0`; SQLite forbids carrying a connection across a fork).
        os.register_at_fork(after_in_child=functools.partial(_forget_parent_connections, weakref.ref(self)))
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The same pool, for reads: on SQLite they begin deferred and never queue behind a writer.
        self.reader = self.engine.execution_options(**{READ_ONLY: True})
        self.read_sessions = sessionmaker(self.reader, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self.sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads (rolled back at the end; never waits for a writer on SQLite)."""
        with self.read_sessions() as session:
            yield session

    def check(self) -> str | None:
        """None when the database answers now, else the kind of fault (for /readyz)."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return f"the database cannot be reached ({type(exc.orig or exc).__name__})"
        return None

    def dispose(self) -> None:
        self.engine.dispose()
