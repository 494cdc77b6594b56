"""Publishing a completed batch: its row, its place in the digest chain and (for a small batch) its
`Loan_ID` index, in one statement on PostgreSQL and one transaction on SQLite.

On SQLite, which has one writer and no round trips, the last link is read under the write lock and
the digest made here. On PostgreSQL the statement itself reads the last link and makes the batch's
digest (SHA-256 over the same bytes, the header cut around its position), so publishing is one round
trip whoever published last. (Reading the link under a lock first cost three; guessing it from what
this process saw last missed whenever another worker had published since.) Two publishers that read
the same link meet the unique `seq`: the second fails and is tried again. The chain can never fork.
"""
from __future__ import annotations

import functools
import io
import sqlite3
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import (BigInteger, Integer, LargeBinary, String, Text, bindparam, cast, exists, func, insert, literal,
                        or_, select, text)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, IntegrityError

from webapp.db import Database
from webapp.records.digest import GENESIS, HEADER_FIELDS, batch_digest, header_of, version_of
from webapp.records.models import Batch, DecisionIndex, Deletion

MAX_ATTEMPTS = 100  # each failed attempt means another batch was published: the chain moved on

BATCHES, DELETIONS, INDEX = Batch.__table__, Deletion.__table__, DecisionIndex.__table__
PUBLISHED = [c for c in BATCHES.columns if c.name not in ("hold_reason", "held_at")]

# The last link, or the genesis "link" 0 before the first batch: always one row. Plain SQL: both
# maxima come off unique indexes, with no ORM compilation.
LAST_LINK_OR_GENESIS = (
    "SELECT seq, digest FROM (SELECT seq, digest FROM batches WHERE seq = (SELECT max(seq) FROM batches) "
    "UNION ALL SELECT seq, digest FROM deletions WHERE seq = (SELECT max(seq) FROM deletions) "
    f"UNION ALL SELECT 0, '{GENESIS}') AS links ORDER BY seq DESC LIMIT 1")


def _link_is_last():
    """The condition of every insert: `:prev_seq` / `:prev_digest` is the chain's last link."""
    seq, prev_seq = bindparam("seq", type_=Integer), bindparam("prev_seq", type_=Integer)
    prev = bindparam("prev_digest", type_=String)
    return (~exists().where(BATCHES.c.seq >= seq) & ~exists().where(DELETIONS.c.seq >= seq)
            & or_(prev_seq == literal(0, Integer),
                  exists().where(BATCHES.c.seq == prev_seq, BATCHES.c.digest == prev),
                  exists().where(DELETIONS.c.seq == prev_seq, DELETIONS.c.digest == prev)))


def _batch_insert():
    values = select(*[bindparam(c.name, type_=c.type) for c in PUBLISHED]).where(_link_is_last())
    return insert(BATCHES).from_select([c.name for c in PUBLISHED], values)


BATCH_INSERT = _batch_insert()


def _postgres_statement():
    """The batch and its index rows in one statement, chained to the last link as the statement
    reads it: the digest is made by the database from the parts of the header that do not depend on
    the position (`_digest_parts`), so no process ever guesses the tip. It answers the batch's
    (seq, prev_digest, digest); a concurrent publisher that took the same position first makes it
    fail on the unique `seq`, and it is tried again."""
    tip = text(LAST_LINK_OR_GENESIS).columns(seq=Integer, digest=String).cte("tip")  # one row, read once
    seq = (tip.c.seq + 1).label("seq")

    def utf8(value):
        return func.convert_to(value, literal("UTF8"))

    # digest_head: the version and "\n"; digest_middle: "\n" and the header up to its position; digest_tail: the
    # rest of the header, "\n" and the data digest (see digest.batch_digest and header_of).
    parts = [bindparam("digest_head", type_=LargeBinary), utf8(tip.c.digest),
             bindparam("digest_middle", type_=LargeBinary), utf8(cast(seq, Text)),
             bindparam("digest_tail", type_=LargeBinary)]
    joined = functools.reduce(lambda a, b: a.op("||")(b), parts)
    computed = {"seq": seq, "prev_digest": tip.c.digest, "digest": func.encode(func.sha256(joined), literal("hex"))}
    values = select(*[computed.get(c.name, bindparam(c.name, type_=c.type)) for c in PUBLISHED]).select_from(tip)
    inserted = insert(BATCHES).from_select([c.name for c in PUBLISHED], values).returning(
        BATCHES.c.seq, BATCHES.c.prev_digest, BATCHES.c.digest).cte("inserted")
    keys = func.unnest(bindparam("loan_keys", type_=ARRAY(BigInteger)))
    rows = func.unnest(bindparam("index_rows", type_=ARRAY(BigInteger)))
    # Two unnests in one SELECT list advance together: the i-th key with the i-th row.
    indexed = insert(INDEX).from_select(["loan_key", "batch_seq", "row"],
                                        select(keys, inserted.c.seq, rows).select_from(inserted)).cte("indexed")
    return select(inserted.c.seq, inserted.c.prev_digest, inserted.c.digest).add_cte(indexed)


POSTGRES_PUBLISH = _postgres_statement()
SEQ_STANDIN = -918_273_645_546_372  # a position no batch has: where the header is cut for the database


def _digest_parts(batch: Batch) -> dict:
    """`batch_digest`'s input around the two values only the database knows (the last link's digest
    and the position): the same bytes, so `verify` recomputes what the statement made."""
    fields = {name: getattr(batch, name) for name in HEADER_FIELDS} | {"seq": SEQ_STANDIN}
    header = header_of(SimpleNamespace(**fields))
    place = f'"seq":{SEQ_STANDIN}'
    if header.count(place) != 1:  # keys are sorted and text is escaped: only the key itself matches
        raise ValueError("the batch header does not place its position exactly once")
    before, _, after = header.partition(place)
    return {"digest_head": f"{version_of(batch)}\n".encode(), "digest_middle": f'\n{before}"seq":'.encode(),
            "digest_tail": f"{after}\n{batch.data_digest}".encode()}


def publish(database: Database, batch: Batch, sorted_keys: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Insert the complete `batch` as the chain's next link (setting its `seq`, `prev_digest` and
    `digest`), with its index rows when given (sorted (keys, rows)); `batch.indexed` must say so."""
    keys, rows = sorted_keys if sorted_keys is not None else (np.empty(0, np.int64), np.empty(0, np.int64))
    if database.backend == "sqlite":
        _publish_sqlite(database, batch, keys, rows)
        return
    for _ in range(MAX_ATTEMPTS):
        try:
            batch.seq, batch.prev_digest, batch.digest = _publish_postgres(database, batch, keys, rows)
            return
        except IntegrityError:
            continue  # a concurrent batch took this position first: the statement reads the new last link
    raise RuntimeError(f"batch {batch.id} found no free place in the chain after {MAX_ATTEMPTS} attempts")


def link(batch: Batch, tip: tuple[int, str]) -> None:
    """Give `batch` the position after `tip` and the digest that chains it there."""
    batch.seq, batch.prev_digest = tip[0] + 1, tip[1]
    batch.digest = batch_digest(batch.prev_digest, header_of(batch), batch.data_digest, version_of(batch))


def _values(batch: Batch) -> dict:
    # A batch published by the recorder is a SimpleNamespace of exactly these fields (no ORM object).
    values = dict(vars(batch)) if isinstance(batch, SimpleNamespace) else {c.name: getattr(batch, c.key)
                                                                         for c in PUBLISHED}
    values["prev_seq"] = batch.seq - 1
    return values


def _publish_postgres(database: Database, batch: Batch, keys: np.ndarray, rows: np.ndarray) -> tuple[int, str, str]:
    """One statement on the driver's own connection, in autocommit: its own transaction, so there
    is no BEGIN or COMMIT to send. (Through a SQLAlchemy Connection, the execution context, result
    objects and the isolation level set and reset around it cost a third of the publish's time.)"""
    dialect = database.engine.dialect
    statement = _postgres_publish(dialect)
    values = {c.name: getattr(batch, c.key) for c in PUBLISHED if c.name not in ("seq", "prev_digest", "digest")}
    parameters = statement.parameters({**values, **_digest_parts(batch), "loan_keys": keys.tolist(),
                                       "index_rows": rows.tolist()})
    pooled = database.engine.raw_connection()  # checked out (and pinged) by the pool, as engine.connect() would
    try:
        driver = pooled.dbapi_connection
        driver.autocommit = True
        try:
            with driver.cursor() as cursor:
                cursor.execute(statement.sql, parameters)
                return tuple(cursor.fetchone())
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, driver, None):
                pooled.invalidate(exc)  # never handed out again
            # As SQLAlchemy raises it: IntegrityError (a concurrent publisher took the position), OperationalError...
            raise DBAPIError.instance(statement.sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
        finally:
            if not driver.closed:
                driver.autocommit = False  # as the pool's other users expect it
    finally:
        pooled.close()  # back to the pool (or discarded, if invalidated)


def _publish_sqlite(database: Database, batch: Batch, keys: np.ndarray, rows: np.ndarray) -> None:
    """SQLite has one writer: under its lock (BEGIN IMMEDIATE) the last link is read and cannot move
    before the insert, so there is no guess to miss. (Guessing, with two web workers publishing in
    turn, one insert in five missed and was tried again: a rollback, a read and a second insert.)
    On the driver's own connection: SQLAlchemy's work around one execute (its statement cache,
    events, result objects, the transaction's context) took longer than SQLite's insert and commit."""
    insert_batch = _sqlite_batch_insert(database.engine.dialect)
    pooled = database.engine.raw_connection()  # the pool's connection, without a SQLAlchemy Connection around it
    try:
        driver = pooled.dbapi_connection
        try:
            driver.execute("BEGIN IMMEDIATE")
            link(batch, tuple(driver.execute(LAST_LINK_OR_GENESIS).fetchone()))
            # The insert's own condition still holds the chain if this lock were ever not the only way in.
            if driver.execute(insert_batch.sql, insert_batch.parameters(_values(batch))).rowcount != 1:
                raise RuntimeError(f"batch {batch.id} could not be chained after link {batch.seq - 1}")
            _sqlite_index(driver, keys, rows, batch.seq, existing_ok=False)
            driver.execute("COMMIT")
        except BaseException as exc:
            if driver.in_transaction:
                driver.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):  # as SQLAlchemy would raise it (OperationalError for a fault)
                raise DBAPIError.instance(insert_batch.sql, None, exc, sqlite3.Error,
                                          dialect=database.engine.dialect) from exc
            raise
    finally:
        pooled.close()  # back to the pool


class DriverStatement:
    """A SQLAlchemy statement compiled once for a dialect, and its values made driver-ready by the
    same type processors SQLAlchemy would apply: a list for a positional driver (sqlite3), a dict
    for a named one (psycopg)."""

    def __init__(self, statement, dialect):
        self.compiled = statement.compile(dialect=dialect)
        self.sql = str(self.compiled)
        binds = self.compiled.binds
        self.named = not self.compiled.positional
        names = list(binds) if self.named else self.compiled.positiontup
        # (name, its type processor, the value a literal of the statement carries) in position order
        self.plan = tuple((name, binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                           binds[name].effective_value) for name in names)
        self._names = tuple(name for name, _, _ in self.plan)
        self._processed = tuple((position, process) for position, (_, process, _) in enumerate(self.plan)
                                if process is not None)  # a few of thirty: dates, a float, a flag

    def parameters(self, values: dict) -> list | dict:
        """What `construct_params` would give, processed: a name not in `values` takes its literal."""
        given = [values[name] if name in values else literal for name, _, literal in self.plan]
        for position, process in self._processed:
            given[position] = process(given[position])
        return dict(zip(self._names, given)) if self.named else given


@functools.cache
def _postgres_publish(dialect) -> DriverStatement:
    return DriverStatement(POSTGRES_PUBLISH, dialect)


@functools.cache
def _sqlite_batch_insert(dialect) -> DriverStatement:
    return DriverStatement(BATCH_INSERT, dialect)


COPY_ROWS = 1_000  # PostgreSQL: more index rows than this go by COPY
SQLITE_ROWS_PER_INSERT = 499  # (key, row) pairs per SQLite INSERT: 998 parameters, under any build's 999


def write_index(connection, sorted_keys: tuple[np.ndarray, np.ndarray], seq: int, *,
                existing_ok: bool = False) -> None:
    """Index rows for the batch at chain position `seq`, on a SQLAlchemy connection in a transaction.
    `existing_ok`: rows already there (an interrupted attempt's, on SQLite) are left as they are."""
    keys, rows = sorted_keys
    if not len(keys):
        return
    if connection.dialect.name == "postgresql":
        if len(keys) > COPY_ROWS:
            _copy_index(connection, keys, rows, seq)  # COPY: fastest in bulk, but several round trips
        else:
            _executemany_index(connection, keys, rows, seq)
    else:
        _sqlite_index(connection.connection.dbapi_connection, keys, rows, seq, existing_ok)


def _executemany_index(connection, keys: np.ndarray, rows: np.ndarray, seq: int) -> None:
    """psycopg's executemany straight from tuples (it pipelines the statements): several times
    faster than SQLAlchemy's insert."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.executemany("INSERT INTO decision_index (loan_key, batch_seq, row) VALUES (%s, %s, %s)",
                           zip(keys.tolist(), [seq] * len(keys), rows.tolist()))
    finally:
        cursor.close()


def _sqlite_index(driver, keys: np.ndarray, rows: np.ndarray, seq: int, existing_ok: bool) -> None:
    """Many rows per INSERT: SQLite runs one statement per call, and a million one-row statements
    cost twice the time of two thousand 499-row ones (measured: 1.9 against 1.0 s a million rows)."""
    if not len(keys):
        return
    verb = "INSERT OR IGNORE" if existing_ok else "INSERT"
    pairs = np.empty(2 * len(keys), dtype=np.int64)
    pairs[0::2], pairs[1::2] = keys, rows
    values = pairs.tolist()
    step = 2 * SQLITE_ROWS_PER_INSERT
    whole = len(values) // step * step
    seq = int(seq)  # an integer of our own, written into the bulk statement: one parameter fewer per row
    if whole:
        many = f"{verb} INTO decision_index (loan_key, batch_seq, row) VALUES " + \
            ",".join([f"(?, {seq}, ?)"] * SQLITE_ROWS_PER_INSERT)
        driver.executemany(many, (values[i:i + step] for i in range(0, whole, step)))
    if whole < len(values):  # the same text for every batch: SQLite's statement cache keeps it compiled
        driver.executemany(f"{verb} INTO decision_index (loan_key, batch_seq, row) VALUES (?, ?, ?)",
                           ((values[i], seq, values[i + 1]) for i in range(whole, len(values), 2)))


def _copy_index(connection, keys: np.ndarray, rows: np.ndarray, seq: int) -> None:
    """PostgreSQL COPY of a CSV that pyarrow writes in C."""
    buffer = io.BytesIO()
    table = pa.table({"loan_key": keys, "batch_seq": np.full(len(keys), seq, dtype=np.int64), "row": rows})
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    cursor = connection.connection.dbapi_connection.cursor()
    with cursor.copy("COPY decision_index (loan_key, batch_seq, row) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())
