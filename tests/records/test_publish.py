"""Publishing a batch: one statement for a small batch's record, a chain that never forks whichever
process published last."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from tests.conftest import signed_in_client
from tests.records.conftest import decisions, start
from webapp.db import Database
from webapp.records import Recorder
from webapp.records.models import Batch
from webapp.records.services import verify

ONE_RECORD = [{"Loan_ID": "LP001015", "Gender": "Male", "Married": "Yes", "Dependents": "0", "Education": "Graduate",
               "Self_Employed": "No", "ApplicantIncome": 5720, "CoapplicantIncome": 0, "LoanAmount": 110,
               "Loan_Amount_Term": 360, "Credit_History": 1, "Property_Area": "Urban"}]


class Statements:
    """Every statement the driver runs while the block runs (BEGIN and COMMIT included): the record
    is published on the driver's own connection. SQLite tells through its trace callback; psycopg's
    cursor is wrapped. The pool's liveness check on checkout (pre-ping) is not counted."""

    def __init__(self, engine, monkeypatch):
        self.engine, self.monkeypatch, self.sent = engine, monkeypatch, []
        self.sqlite = engine.dialect.name == "sqlite"

    def _note(self, statement) -> None:
        words = str(statement).split(None, 3)[:3]
        if words not in (["SELECT", "1"], [";"]):  # the pool's pre-ping, as SQLAlchemy sends it
            self.sent.append(words)

    def _trace(self, dbapi_connection, *args):
        dbapi_connection.set_trace_callback(self._note)

    def _untrace(self, dbapi_connection, *args):
        dbapi_connection.set_trace_callback(None)

    def __enter__(self):
        if self.sqlite:
            event.listen(self.engine.pool, "checkout", self._trace)
            event.listen(self.engine.pool, "checkin", self._untrace)
        else:
            import psycopg

            real = psycopg.Cursor.execute

            def execute(cursor, query, *args, **kwargs):
                self._note(query.as_string(cursor) if hasattr(query, "as_string") else query)
                return real(cursor, query, *args, **kwargs)

            self.monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        return self

    def __exit__(self, *exc):
        if self.sqlite:
            event.remove(self.engine.pool, "checkout", self._trace)
            event.remove(self.engine.pool, "checkin", self._untrace)
        else:
            self.monkeypatch.undo()


def published(database, batch_id) -> Batch:
    with database.session() as session:
        return session.get(Batch, batch_id)


def record_one(database, store, loan_id="A") -> str:
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions([loan_id]))
    recorder.complete({})
    return recorder.batch_id


def test_a_single_record_request_records_its_decision_in_one_round_trip(db_app, monkeypatch):
    """The key and the credentials generation come from the worker's memory while fresh; held fresh
    here, as a busy worker has them (an idle one reads the generation once a second, the key every
    five: `accounts.services.GENERATION_TTL`, `KEY_TTL`), so only the record's statements are counted."""
    monkeypatch.setattr("webapp.accounts.services.GENERATION_TTL", 3600.0)
    monkeypatch.setattr("webapp.accounts.services.KEY_TTL", 3600.0)
    client = signed_in_client(db_app)
    database = db_app.extensions["database"]
    assert client.post("/api/v1/score", json=ONE_RECORD).status_code == 200  # warm: the chain's tip is known
    with Statements(database.engine, monkeypatch) as statements:
        answer = client.post("/api/v1/score", json=ONE_RECORD)
    assert answer.status_code == 200
    if database.backend == "postgresql":  # one statement in autocommit: no BEGIN, no COMMIT
        assert statements.sent == [["WITH", "tip", "AS"]]
    else:  # in-process SQLite: one transaction; the last link read under its lock, the batch row, its index row
        assert statements.sent == [["BEGIN", "IMMEDIATE"], ["SELECT", "seq,", "digest"], ["INSERT", "INTO", "batches"],
                                   ["INSERT", "INTO", "decision_index"], ["COMMIT"]]
    batch = published(database, answer.json["summary"]["batch_id"])
    assert (batch.status, batch.indexed, batch.rows) == ("complete", True, 1)


def test_a_publish_hands_its_connection_back_as_the_pools_other_users_expect_it(database, store):
    record_one(database, store)
    pooled = database.engine.raw_connection()
    try:
        driver = pooled.dbapi_connection
        if database.backend == "postgresql":  # published in autocommit; everyone else runs transactions
            assert driver.autocommit is False
        else:
            assert driver.in_transaction is False
    finally:
        pooled.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_lost_while_publishing_fails_the_batch_and_is_never_handed_out_again(database, store,
                                                                                        monkeypatch):
    import psycopg
    from sqlalchemy.exc import OperationalError

    record_one(database, store)  # the pool now keeps a connection
    real = psycopg.Cursor.execute

    def server_gone(cursor, query, *args, **kwargs):
        if str(query).startswith("WITH tip"):
            cursor.connection.close()  # as when the server goes away mid-statement
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", server_gone)
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["B"]))
    with pytest.raises(OperationalError):  # SQLAlchemy's, as the API's database-unavailable answer expects
        recorder.complete({})
    monkeypatch.undo()
    assert published(database, recorder.batch_id).status == "failed"
    assert published(database, record_one(database, store)).status == "complete"  # on a live connection
    assert verify(database).ok


def test_a_process_publishes_after_a_batch_another_process_published(database, store):
    other_process = Database(database.url)  # its own pool, as another worker would have
    try:
        first = record_one(database, store)
        second = record_one(other_process, store)
        third = record_one(database, store)  # this process last published `first`
    finally:
        other_process.dispose()
    assert [published(database, b).seq for b in (first, second, third)] == [1, 2, 3]
    assert published(database, third).prev_digest == published(database, second).digest
    assert verify(database).ok


def test_a_batch_digest_made_by_the_database_is_the_one_verify_recomputes(database, store):
    from webapp.records.digest import batch_digest, header_of

    recorder = Recorder(database, start(actor="zoë@bank.example", input_name='naïve "quotes" \\ file.csv'),
                        store=store)  # text the header escapes, and bytes beyond ASCII
    recorder.add(decisions(["Zoë"]))
    recorder.complete({"note": "ünïcode"})
    first, second = recorder.batch_id, record_one(database, store)
    for batch_id in (first, second):
        batch = published(database, batch_id)
        assert batch.digest == batch_digest(batch.prev_digest, header_of(batch), batch.data_digest)
    assert published(database, second).prev_digest == published(database, first).digest
    assert verify(database).ok


def test_parallel_publishers_never_fork_the_chain(database, store):
    processes = [Database(database.url) for _ in range(4)]
    errors = []

    def publish_some(db):
        try:
            for i in range(5):
                record_one(db, store, loan_id=f"P{i}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=publish_some, args=(db,)) for db in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for db in processes:
        db.dispose()
    assert errors == []
    with database.session() as session:
        assert sorted(s for (s,) in session.query(Batch.seq)) == list(range(1, 21))
    assert verify(database).ok
