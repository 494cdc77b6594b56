"""A cancel racing the job's end: the worker seals the job (running → finishing, one conditional
UPDATE) just before completing its batch. A cancel before the seal wins — the batch is failed with
reason "cancelled" and no result is kept; one after it answers 409 `job-finishing` and the job
succeeds with its batch. Either way the job's state and its batch agree. Both orders are provoked
by a hook on the seal, on each database. And a retry of a job whose batch was recorded re-uses it,
with the model version it recorded."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.jobs.conftest import csv_bytes, upload
from webapp.jobs import Job, services, tasks
from webapp.records.models import Batch


def batches(app) -> list[tuple[str, str | None]]:
    with app.extensions["database"].session() as session:
        return [(b.status, b.failure_reason) for b in session.scalars(select(Batch))]


def stored_files(app) -> list[str]:
    folder = app.extensions["results"].folder
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def client(idle_app):
    return signed_in_client(idle_app)


@pytest.fixture
def job(client):
    return client.post("/api/v1/jobs", data=upload(csv_bytes(60))).json


def run(app, job_id: str) -> str | None:
    return tasks.run_job(app.extensions["jobs"].runtime, job_id)


def seal_with(monkeypatch, before=lambda: None, after=lambda: None) -> None:
    original = services.seal

    def hooked(database, job_id, worker):
        before()
        original(database, job_id, worker)
        after()

    monkeypatch.setattr(services, "seal", hooked)


def test_a_cancel_just_before_the_seal_wins_the_batch_failed_and_no_result(idle_app, client, job, monkeypatch):
    answers = []
    seal_with(monkeypatch, before=lambda: answers.append(client.delete(f"/api/v1/jobs/{job['id']}")))
    assert run(idle_app, job["id"]) == "cancelled"
    assert [a.status_code for a in answers] == [200]
    done = client.get(f"/api/v1/jobs/{job['id']}").json
    assert done["state"] == "cancelled" and done["result"] is None and done["summary"] is None
    assert batches(idle_app) == [("failed", "cancelled")]
    assert stored_files(idle_app) == []  # neither the answer nor the input is kept


def test_a_cancel_just_after_the_seal_is_refused_and_the_result_kept(idle_app, client, job, monkeypatch):
    answers = []
    seal_with(monkeypatch, after=lambda: answers.append(client.delete(f"/api/v1/jobs/{job['id']}")))
    assert run(idle_app, job["id"]) == "succeeded"
    [refused] = answers
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "job-finishing" and "result is kept" in refused.json["detail"]
    done = client.get(f"/api/v1/jobs/{job['id']}").json
    assert done["state"] == "succeeded" and done["summary"]["rows"] == 60
    assert batches(idle_app) == [("complete", None)]
    assert client.get(done["result"]).status_code == 200


def test_the_job_is_finishing_while_its_batch_completes(idle_app, client, job, monkeypatch):
    seen = []
    seal_with(monkeypatch, after=lambda: seen.append(client.get(f"/api/v1/jobs/{job['id']}").json["state"]))
    run(idle_app, job["id"])
    assert seen == ["finishing"]


def test_a_job_requeued_after_its_batch_completed_cannot_be_cancelled(idle_app, client, job, monkeypatch):
    monkeypatch.setattr(services, "finish", lambda *a, **k: False)  # its worker dies before marking it done
    run(idle_app, job["id"])
    monkeypatch.undo()
    with idle_app.extensions["database"].session() as session:
        session.get(Job, job["id"]).heartbeat_at = services.utcnow().replace(year=2000)
    assert services.requeue_lost(idle_app.extensions["database"], 60) == [job["id"]]
    assert client.get(f"/api/v1/jobs/{job['id']}").json["state"] == "queued"
    assert client.delete(f"/api/v1/jobs/{job['id']}").json["code"] == "job-finishing"
    assert run(idle_app, job["id"]) == "succeeded"
    assert batches(idle_app) == [("complete", None)]


def test_a_cancel_after_the_job_ended_still_says_it_ended(idle_app, client, job):
    run(idle_app, job["id"])
    assert client.delete(f"/api/v1/jobs/{job['id']}").json["code"] == "job-ended"


def test_a_retry_after_its_batch_was_recorded_scores_with_the_recorded_version(idle_app, client, job,
                                                                                forest_model_path):
    """A worker lost after recording the job's batch: the job runs again and re-uses that batch, so
    the answer it rebuilds must come from the version the batch recorded, not from a champion
    promoted meanwhile."""
    from tests.registry.apps import ROLES

    assert run(idle_app, job["id"]) == "succeeded"
    runtime = idle_app.extensions["jobs"].runtime
    with idle_app.extensions["database"].session() as session:
        recorded = session.get(Job, job["id"])
        session.expunge(recorded)
    first = runtime.models.current().version
    idle_app.extensions["role_of"] = ROLES.get
    registry = idle_app.extensions["model_registry"]
    version = registry.register(forest_model_path, by="ada@bank.example")["version"]
    registry.approve(version, by="bo@bank.example", note="validated")
    registry.promote(version, by="ada@bank.example", note="new champion")
    assert runtime.models.current().version == version != first
    assert tasks._job_model(runtime, recorded).version == first


def test_a_cancel_between_the_lost_job_check_and_its_requeue_stays_cancelled(idle_app, client, job, monkeypatch):
    """PostgreSQL reads the running jobs without locking them: a cancel may commit before the
    re-queue's write, which must then leave the job alone (on SQLite the check holds the write lock)."""
    database = idle_app.extensions["database"]
    if database.backend == "sqlite":
        pytest.skip("SQLite's re-queue holds the one write lock from its first statement")
    with database.session() as session:
        lost = session.get(Job, job["id"])
        lost.state, lost.worker_id = "running", "this-host:1:w"
        lost.heartbeat_at = services.utcnow()  # fresh: its worker's process is what is checked
    cancelled = []

    def cancel_first(worker, host):  # the owner cancels while the check looks at the process
        if not cancelled:
            cancelled.append(client.delete(f"/api/v1/jobs/{job['id']}").status_code)
        return True  # gone

    monkeypatch.setattr(services, "_worker_gone", cancel_first)
    assert services.requeue_lost(database, 60) == []
    assert cancelled == [200]
    assert client.get(f"/api/v1/jobs/{job['id']}").json["state"] == "cancelled"
