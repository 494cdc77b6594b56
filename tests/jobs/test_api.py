"""The jobs over HTTP, with Huey in immediate mode: submit, progress, result, owner isolation,
idempotency, cancellation, the error threshold and failures as the problem /score would give."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.conftest import signed_in_client
from tests.jobs.conftest import csv_bytes, small_chunks, upload
from webapp.records.models import Batch


def batches(app) -> list[Batch]:
    from sqlalchemy import select

    with app.extensions["database"].session() as session:
        return list(session.scalars(select(Batch)))


def test_a_file_job_is_accepted_scored_and_its_answer_downloaded(jobs_app):
    client = signed_in_client(jobs_app)
    small_chunks(jobs_app)
    response = client.post("/api/v1/jobs?explain=1", data=upload(csv_bytes(120)))
    assert response.status_code == 202
    job_id = response.json["id"]
    assert response.headers["Location"] == f"/api/v1/jobs/{job_id}"

    job = client.get(response.headers["Location"]).json
    assert job["state"] == "succeeded"
    assert job["progress"] == {"rows_done": 120, "rows_total": 120, "percent": 100.0}
    assert job["summary"]["rows"] == 120 and job["result"] == f"/api/v1/jobs/{job_id}/result"
    assert job["started_at"] and job["finished_at"] and job["error"] is None

    result = client.get(job["result"])
    assert result.status_code == 200 and result.mimetype == "text/csv"
    assert result.headers["X-Batch-Id"] == job["batch_id"]
    assert len(pd.read_csv(io.BytesIO(result.data))) == 120

    [batch] = batches(jobs_app)
    assert (batch.id, batch.channel, batch.actor, batch.status, batch.rows) == \
        (job["batch_id"], "job", "analyst@bank.example", "complete", 120)


def test_the_uploaded_input_is_deleted_when_the_job_ends(jobs_app):
    client = signed_in_client(jobs_app)
    client.post("/api/v1/jobs", data=upload(csv_bytes(10)))
    folder = jobs_app.extensions["results"].folder / "job-inputs"
    assert not folder.exists() or list(folder.iterdir()) == []


@pytest.mark.parametrize("fmt, media", [("json", "application/json"), ("parquet", "application/vnd.apache.parquet")])
def test_the_answer_comes_in_the_asked_format(jobs_app, fmt, media):
    client = signed_in_client(jobs_app)
    job = client.post(f"/api/v1/jobs?format={fmt}", data=upload(csv_bytes(30))).json
    result = client.get(f"/api/v1/jobs/{job['id']}/result")
    assert result.status_code == 200 and result.mimetype == media
    if fmt == "json":
        assert len(result.json["predictions"] if "predictions" in result.json else result.json["results"]) == 30


def test_progress_is_written_per_chunk(jobs_app, monkeypatch):
    from webapp.jobs import services

    seen = []
    original = services.progress
    monkeypatch.setattr(services, "progress", lambda db, job_id, worker, done, total=None:
                        (seen.append((done, total)), original(db, job_id, worker, done, total))[1])
    small_chunks(jobs_app, rows=40)
    signed_in_client(jobs_app).post("/api/v1/jobs", data=upload(csv_bytes(100)))
    assert seen == [(0, 100), (40, 100), (80, 100), (100, 100)]


def test_another_analysts_job_is_not_found_and_auditors_see_all(jobs_app):
    owner = signed_in_client(jobs_app)
    job = owner.post("/api/v1/jobs", data=upload(csv_bytes(10))).json
    other = signed_in_client(jobs_app, "other@bank.example")
    for method, path in (("get", ""), ("get", "/result"), ("delete", "")):
        assert getattr(other, method)(f"/api/v1/jobs/{job['id']}{path}").status_code == 404
    assert other.get("/api/v1/jobs").json["jobs"] == []
    assert other.get(f"/jobs/{job['id']}/status").status_code == 404
    auditor = signed_in_client(jobs_app, "auditor@bank.example", "auditor")
    assert auditor.get(f"/api/v1/jobs/{job['id']}").json["state"] == "succeeded"
    assert [j["id"] for j in auditor.get("/api/v1/jobs?state=succeeded").json["jobs"]] == [job["id"]]
    assert auditor.post("/api/v1/jobs", data=upload(csv_bytes(10))).status_code == 403  # auditors score nothing


def test_the_same_idempotency_key_returns_the_same_job_for_its_owner_only(jobs_app):
    client = signed_in_client(jobs_app)
    first = client.post("/api/v1/jobs", data=upload(csv_bytes(10)), headers={"Idempotency-Key": "k-1"})
    again = client.post("/api/v1/jobs", data=upload(csv_bytes(10)), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json["id"] == first.json["id"] and again.headers["Location"] == first.headers["Location"]
    other = signed_in_client(jobs_app, "other@bank.example")
    theirs = other.post("/api/v1/jobs", data=upload(csv_bytes(10)), headers={"Idempotency-Key": "k-1"})
    assert theirs.status_code == 202 and theirs.json["id"] != first.json["id"]
    assert len(batches(jobs_app)) == 2


def test_an_idempotency_key_older_than_a_day_starts_a_new_job(jobs_app):
    from datetime import timedelta

    from webapp.jobs import Job

    client = signed_in_client(jobs_app)
    first = client.post("/api/v1/jobs", data=upload(csv_bytes(10)), headers={"Idempotency-Key": "old"}).json
    with jobs_app.extensions["database"].session() as session:
        job = session.get(Job, first["id"])
        job.created_at = job.created_at - timedelta(hours=25)
    later = client.post("/api/v1/jobs", data=upload(csv_bytes(10)), headers={"Idempotency-Key": "old"})
    assert later.status_code == 202 and later.json["id"] != first["id"]


def test_a_failed_job_carries_the_problem_score_would_have_given(jobs_app):
    client = signed_in_client(jobs_app)
    job = client.post("/api/v1/jobs", data=upload(b"Loan_ID,Nothing\nA,1\n")).json
    assert job["state"] == "failed" and job["result"] is None
    assert job["error"]["code"] == "missing-columns" and job["error"]["status"] == 422
    assert client.get(f"/api/v1/jobs/{job['id']}/result").status_code == 409
    [batch] = batches(jobs_app)
    assert batch.status == "failed" and batch.channel == "job"


def test_the_error_threshold_fails_a_job_with_too_many_failed_rows(jobs_app):
    client = signed_in_client(jobs_app)
    failing = client.post("/api/v1/jobs?error_threshold=0.1", data=upload(csv_bytes(40, broken=8))).json
    assert failing["state"] == "failed" and failing["error"]["code"] == "error-threshold"
    passing = client.post("/api/v1/jobs?error_threshold=0.25", data=upload(csv_bytes(40, broken=8))).json
    assert passing["state"] == "succeeded" and passing["summary"]["failed"] == 8
    assert sorted(b.status for b in batches(jobs_app)) == ["complete", "failed"]
    assert client.post("/api/v1/jobs?error_threshold=2", data=upload(csv_bytes(4))).status_code == 400


def test_a_running_job_cancelled_stops_at_the_next_chunk(jobs_app, monkeypatch):
    from webapp.jobs import services

    original = services.progress

    def cancel_midway(db, job_id, worker, done, total=None):
        if done >= 50:
            services.cancel(db, jobs_app.extensions["results"], job_id, None)
        original(db, job_id, worker, done, total)

    monkeypatch.setattr(services, "progress", cancel_midway)
    small_chunks(jobs_app, rows=25)
    client = signed_in_client(jobs_app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(200))).json
    assert job["state"] == "cancelled" and job["result"] is None and job["progress"]["rows_done"] < 200
    [batch] = batches(jobs_app)
    assert (batch.status, batch.failure_reason) == ("failed", "cancelled")
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 409
    store = jobs_app.extensions["results"].folder
    assert [p.name for p in store.iterdir() if p.is_file()] == []  # no partial output
    assert list((store / "job-inputs").iterdir()) == []


def test_an_unknown_state_is_a_bad_query(jobs_app):
    response = signed_in_client(jobs_app).get("/api/v1/jobs?state=done")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_a_job_that_is_finishing_is_not_cancelled_409(queued_app):
    from webapp.jobs import Job

    client = signed_in_client(queued_app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(10))).json
    with queued_app.extensions["database"].session() as session:
        session.get(Job, job["id"]).state = "finishing"  # its worker is completing the batch
    response = client.delete(f"/api/v1/jobs/{job['id']}")
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    assert (response.json["code"], response.json["detail"]) == ("job-finishing",
                                                                "The job is finishing; its result is kept.")
    assert client.get(f"/api/v1/jobs/{job['id']}").json["state"] == "finishing"


def test_a_raw_body_is_stored_as_sent_and_one_too_large_leaves_nothing(jobs_app):
    client = signed_in_client(jobs_app)
    body = csv_bytes(50)
    job = client.post("/api/v1/jobs", data=body, content_type="text/csv").json
    assert job["state"] == "succeeded" and job["summary"]["rows"] == 50
    assert batches(jobs_app)[0].input_size == len(body)
    jobs_app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/api/v1/jobs", data=body, content_type="text/csv")
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    assert len(client.get("/api/v1/jobs").json["jobs"]) == 1
    folder = jobs_app.extensions["results"].folder / "job-inputs"
    assert list(folder.iterdir()) == []


def test_an_upload_that_breaks_off_midway_leaves_no_stored_input(jobs_app):
    from webapp.jobs import inputs

    class BreaksOff(io.RawIOBase):
        sent = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.sent > 3 << 20:
                raise OSError("the client went away")
            self.sent += len(buffer)
            buffer[:] = b"x" * len(buffer)
            return len(buffer)

    store = jobs_app.extensions["results"]
    with pytest.raises(OSError):
        inputs.save(store, "a" * 32, BreaksOff())
    assert list((store.folder / "job-inputs").iterdir()) == []
