"""Publishing a batch: one statement for a small batch's record, a chain that never forks however
stale a process's idea of its last link is."""
from __future__ import annotations

import threading

from sqlalchemy import event

from tests.conftest import signed_in_client
from tests.records.conftest import decisions, start
from webapp.db import Database
from webapp.records import Recorder
from webapp.records.models import Batch
from webapp.records.publish import TIPS
from webapp.records.services import verify

ONE_RECORD = [{"Loan_ID": "LP001015", "Gender": "Male", "Married": "Yes", "Dependents": "0", "Education": "Graduate",
               "Self_Employed": "No", "ApplicantIncome": 5720, "CoapplicantIncome": 0, "LoanAmount": 110,
               "Loan_Amount_Term": 360, "Credit_History": 1, "Property_Area": "Urban"}]


class Statements:
    """Every statement sent while the block runs (BEGIN and COMMIT included). On SQLite, as the
    driver runs them (its trace callback): the record is published on the driver's own connection."""

    def __init__(self, engine):
        self.engine, self.sent = engine, []
        self.sqlite = engine.dialect.name == "sqlite"
        self.listeners = ([(engine.pool, "checkout", self._trace), (engine.pool, "checkin", self._untrace)]
                          if self.sqlite else
                          [(engine, "before_cursor_execute", self._sent), (engine, "commit", self._commit)])

    def _sent(self, conn, cursor, statement, *args):
        self.sent.append(statement.split(None, 3)[:3])

    def _commit(self, conn):
        self.sent.append(["COMMIT"])

    def _trace(self, dbapi_connection, *args):
        dbapi_connection.set_trace_callback(lambda statement: self.sent.append(statement.split(None, 3)[:3]))

    def _untrace(self, dbapi_connection, *args):
        dbapi_connection.set_trace_callback(None)

    def __enter__(self):
        for target, name, listener in self.listeners:
            event.listen(target, name, listener)
        return self

    def __exit__(self, *exc):
        for target, name, listener in self.listeners:
            event.remove(target, name, listener)


def published(database, batch_id) -> Batch:
    with database.session() as session:
        return session.get(Batch, batch_id)


def record_one(database, store, loan_id="A") -> str:
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions([loan_id]))
    recorder.complete({})
    return recorder.batch_id


def test_a_single_record_request_records_its_decision_in_one_round_trip(db_app):
    client = signed_in_client(db_app)
    database = db_app.extensions["database"]
    assert client.post("/api/v1/score", json=ONE_RECORD).status_code == 200  # warm: the chain's tip is known
    with Statements(database.engine) as statements:
        answer = client.post("/api/v1/score", json=ONE_RECORD)
    assert answer.status_code == 200
    if database.backend == "postgresql":  # one statement in autocommit: no BEGIN, no COMMIT
        assert statements.sent == [["WITH", "inserted", "AS"]]
    else:  # in-process SQLite: one transaction, the batch row and its index row
        assert statements.sent == [["BEGIN", "IMMEDIATE"], ["INSERT", "INTO", "batches"],
                                   ["INSERT", "INTO", "decision_index"], ["COMMIT"]]
    batch = published(database, answer.json["summary"]["batch_id"])
    assert (batch.status, batch.indexed, batch.rows) == ("complete", True, 1)


def test_a_process_whose_idea_of_the_last_link_is_stale_publishes_after_the_real_one(database, store):
    other_process = Database(database.url)  # its own tip, as another worker would have
    try:
        first = record_one(database, store)
        second = record_one(other_process, store)
        third = record_one(database, store)  # believes the chain ends at `first`
    finally:
        other_process.dispose()
    assert [published(database, b).seq for b in (first, second, third)] == [1, 2, 3]
    assert published(database, third).prev_digest == published(database, second).digest
    assert verify(database).ok


def test_a_tip_that_is_not_in_the_database_is_never_chained_to(database, store):
    TIPS.saw(database, (41, "f" * 64))  # e.g. remembered from a database since recreated
    batch_id = record_one(database, store)
    assert published(database, batch_id).seq == 1
    assert verify(database).ok


def test_parallel_publishers_with_stale_tips_never_fork_the_chain(database, store):
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
