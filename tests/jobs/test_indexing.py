"""A large batch scored by the web server has its Loan_ID index written by the jobs worker, not by
the web worker that answered (a million index rows hold a process's GIL for seconds)."""
from __future__ import annotations

from tests.conftest import signed_in_client
from tests.jobs.conftest import csv_bytes, upload
from webapp.records import decisions_for
from webapp.records.models import Batch


def test_a_large_upload_is_indexed_by_the_jobs_queue(jobs_app, monkeypatch):
    monkeypatch.setattr("webapp.records.recorder.INDEX_NOW_ROWS", 5)
    taken = []
    queue = jobs_app.extensions["jobs"]
    real = queue.index_batch
    monkeypatch.setattr(queue, "index_batch", lambda batch_id: (taken.append(batch_id), real(batch_id)))
    answer = signed_in_client(jobs_app).post("/api/v1/score?format=json", data=upload(csv_bytes(40)))
    batch_id = answer.json["summary"]["batch_id"]
    assert taken == [batch_id]  # immediate mode: the task has run
    database = jobs_app.extensions["database"]
    with database.session() as session:
        assert session.get(Batch, batch_id).indexed is True
        loan_id = answer.json["predictions"][7]["Loan_ID"]
        assert [d["row"] for d in decisions_for(session, loan_id, store=jobs_app.config["RECORDS_URL"])] == [8]


def test_a_single_record_is_indexed_with_its_batch_and_never_queued(jobs_app, monkeypatch):
    queue = jobs_app.extensions["jobs"]
    monkeypatch.setattr(queue, "index_batch", lambda batch_id: (_ for _ in ()).throw(AssertionError("queued")))
    answer = signed_in_client(jobs_app).post("/api/v1/score?format=json", data=upload(csv_bytes(1)))
    with jobs_app.extensions["database"].session() as session:
        assert session.get(Batch, answer.json["summary"]["batch_id"]).indexed is True


def test_derived_work_runs_at_a_lower_priority_and_hands_back_its_result_or_error():
    import os
    import sys
    import threading

    import pytest

    from webapp.jobs.tasks import BACKGROUND_NICENESS, at_low_priority

    def niceness():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = niceness()
    theirs = at_low_priority(niceness)
    if sys.platform.startswith("linux"):
        assert theirs == min(19, mine + BACKGROUND_NICENESS)
    assert niceness() == mine  # the caller's thread keeps its priority
    with pytest.raises(ZeroDivisionError):
        at_low_priority(lambda: 1 / 0)
