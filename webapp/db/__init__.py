"""The database layer: one engine per process, sessions per request or per job, the declarative
base every capability's tables derive from, and Alembic migrations applied at start.

SQLite (the embedded default, a file in the instance folder) and PostgreSQL through psycopg 3 are
both supported; `engine.make_engine` sets what each needs (WAL, foreign keys and a busy timeout on
SQLite; pre-ping on PostgreSQL).

May import: the standard library, SQLAlchemy and Alembic. Nothing else of `webapp` (the layer below
everything that stores), never Flask.
"""
from webapp.db.base import Base
from webapp.db.engine import Database, make_engine
from webapp.db.migrate import SchemaMismatch, ensure_schema, upgrade

__all__ = ["Base", "Database", "SchemaMismatch", "ensure_schema", "make_engine", "upgrade"]
