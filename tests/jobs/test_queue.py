"""The queue: jobs wait queued until a worker claims them; a task delivered twice runs once; a
queued job cancelled never runs; an unreachable Redis answers 503; lost jobs are re-queued and a
retry never records its rows twice; a big batch is indexed after its job has ended, not before."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import signed_in_client
from tests.jobs.conftest import csv_bytes, make_app, upload
from webapp.jobs import Job, services, tasks
from webapp.records.models import Batch


def complete_batches(app) -> int:
    with app.extensions["database"].session() as session:
        return session.scalar(select(func.count()).select_from(Batch).where(Batch.status == "complete"))


def test_a_job_waits_queued_until_a_worker_runs_it_and_runs_once(queued_app):
    client = signed_in_client(queued_app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(20))).json
    assert job["state"] == "queued" and job["progress"]["percent"] is None
    assert len(queued_app.extensions["jobs"].huey) == 1
    runtime = queued_app.extensions["jobs"].runtime
    assert tasks.run_job(runtime, job["id"]) == "succeeded"
    assert tasks.run_job(runtime, job["id"]) is None  # delivered again: already ended, nothing done
    assert complete_batches(queued_app) == 1


def test_a_queued_job_cancelled_never_runs_and_its_input_is_gone(queued_app):
    client = signed_in_client(queued_app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(20))).json
    inputs = queued_app.extensions["results"].folder / "job-inputs"
    assert len(list(inputs.iterdir())) == 1
    assert oct(next(inputs.iterdir()).stat().st_mode & 0o777) == "0o600"  # owner-only
    cancelled = client.delete(f"/api/v1/jobs/{job['id']}")
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    assert list(inputs.iterdir()) == []
    assert tasks.run_job(queued_app.extensions["jobs"].runtime, job["id"]) is None
    assert complete_batches(queued_app) == 0


def test_an_unreachable_redis_answers_503_and_keeps_nothing(model_path, tmp_path):
    app = make_app(model_path, tmp_path, f"sqlite:///{tmp_path / 'r.db'}", JOBS_REDIS_URL="redis://127.0.0.1:9/0")
    client = signed_in_client(app)
    response = client.post("/api/v1/jobs", data=upload(csv_bytes(5)))
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.json["code"] == "queue-unavailable"
    assert client.get("/api/v1/jobs").json["jobs"] == []
    assert list((app.extensions["results"].folder / "job-inputs").iterdir()) == []


def test_jobs_go_through_a_real_redis(model_path, tmp_path, redis_url):
    app = make_app(model_path, tmp_path, f"sqlite:///{tmp_path / 'r.db'}", JOBS_REDIS_URL=redis_url)
    client = signed_in_client(app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(20))).json
    queue = app.extensions["jobs"]
    assert len(queue.huey) == 1
    task = queue.huey.dequeue()
    queue.huey.execute(task)  # what a consumer does
    assert client.get(f"/api/v1/jobs/{job['id']}").json["state"] == "succeeded"


def _lose(app, job_id: str, worker: str = "elsewhere:1:w") -> None:
    """As if its worker died: running, with an old heartbeat."""
    with app.extensions["database"].session() as session:
        job = session.get(Job, job_id)
        job.state, job.worker_id = "running", worker
        job.heartbeat_at = services.utcnow() - timedelta(minutes=10)


def test_a_job_lost_after_its_batch_completed_is_rerun_without_recording_twice(queued_app):
    client = signed_in_client(queued_app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(30))).json
    runtime = queued_app.extensions["jobs"].runtime
    # The first attempt records its batch, then its worker dies before the job is marked done.
    original = services.finish
    services.finish = lambda *a, **k: False
    try:
        tasks.run_job(runtime, job["id"])
    finally:
        services.finish = original
    first_batch = client.get(f"/api/v1/jobs/{job['id']}").json["batch_id"]
    _lose(queued_app, job["id"])
    assert services.requeue_lost(runtime.database, runtime.stale_seconds) == [job["id"]]
    assert tasks.run_job(runtime, job["id"]) == "succeeded"
    done = client.get(f"/api/v1/jobs/{job['id']}").json
    assert done["batch_id"] == first_batch and done["attempts"] == 2
    assert complete_batches(queued_app) == 1
    assert client.get(done["result"]).status_code == 200


def test_a_worker_of_this_host_that_is_gone_has_its_job_requeued_at_once(queued_app):
    import socket
    import subprocess

    job = signed_in_client(queued_app).post("/api/v1/jobs", data=upload(csv_bytes(5))).json
    dead = subprocess.Popen(["true"])
    dead.wait()
    _lose(queued_app, job["id"], f"{socket.gethostname()}:{dead.pid}:{services._pid_namespace()}:0a1b:w")
    with queued_app.extensions["database"].session() as session:  # a fresh heartbeat: only the pid tells
        session.get(Job, job["id"]).heartbeat_at = services.utcnow()
    assert services.requeue_lost(queued_app.extensions["database"], 60) == [job["id"]]


@pytest.mark.parametrize("worker", ["{host}:{pid}:1:0a1b:w", "{host}:{pid}:w"],
                         ids=["another PID namespace (a container on this host name)", "an id of the older form"])
def test_a_dead_pid_of_another_process_table_leaves_the_job_to_its_heartbeat(queued_app, worker):
    import socket
    import subprocess

    job = signed_in_client(queued_app).post("/api/v1/jobs", data=upload(csv_bytes(5))).json
    dead = subprocess.Popen(["true"])
    dead.wait()
    _lose(queued_app, job["id"], worker.format(host=socket.gethostname(), pid=dead.pid))
    with queued_app.extensions["database"].session() as session:
        session.get(Job, job["id"]).heartbeat_at = services.utcnow()
    assert services.requeue_lost(queued_app.extensions["database"], 60) == []


def test_two_processes_never_share_a_worker_id():
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(services.worker_id).split(":")[3] != services.worker_id().split(":")[3]


def test_a_job_interrupted_too_often_fails(queued_app):
    job = signed_in_client(queued_app).post("/api/v1/jobs", data=upload(csv_bytes(5))).json
    with queued_app.extensions["database"].session() as session:
        session.get(Job, job["id"]).attempts = tasks.MAX_ATTEMPTS
    assert tasks.run_job(queued_app.extensions["jobs"].runtime, job["id"]) == "failed"
    error = signed_in_client(queued_app).get(f"/api/v1/jobs/{job['id']}").json["error"]
    assert error["code"] == "worker-lost" and "started 3 times and never finished" in error["detail"]


def test_housekeeping_purges_inputs_of_ended_jobs(queued_app):
    import os

    runtime = queued_app.extensions["jobs"].runtime
    folder = queued_app.extensions["results"].folder / "job-inputs"
    folder.mkdir(exist_ok=True)
    stray = folder / "gone.input"
    stray.write_bytes(b"x")
    os.utime(stray, (1, 1))
    report = tasks.housekeeping(runtime, lambda job_id: None)
    assert report["inputs_removed"] == 1 and not stray.exists()


def test_housekeeping_indexes_a_batch_whose_index_task_was_lost(queued_app, monkeypatch):
    from datetime import timedelta

    from webapp.records.models import Batch

    monkeypatch.setattr("webapp.records.recorder.INDEX_NOW_ROWS", 5)
    answer = signed_in_client(queued_app).post("/api/v1/score?format=json", data=upload(csv_bytes(20)))
    batch_id = answer.json["summary"]["batch_id"]  # its index task sits in a queue nobody consumes
    database = queued_app.extensions["database"]
    runtime = queued_app.extensions["jobs"].runtime
    assert tasks.housekeeping(runtime, lambda job_id: None)["indexed"] == 0  # too recent: the task may yet run
    monkeypatch.setattr("webapp.records.services.PENDING_AGE", timedelta(0))
    assert tasks.housekeeping(runtime, lambda job_id: None)["indexed"] == 1
    with database.session() as session:
        assert session.get(Batch, batch_id).indexed is True


def test_a_big_batch_is_indexed_once_its_job_has_ended_not_before(queued_app, monkeypatch):
    import threading

    from webapp.records.recorder import INDEX_NOW_ROWS

    job = signed_in_client(queued_app).post("/api/v1/jobs", data=upload(csv_bytes(INDEX_NOW_ROWS + 500))).json
    indexing_at_finish = []
    original = services.finish
    monkeypatch.setattr(services, "finish", lambda *a, **k: (indexing_at_finish.append(
        [t for t in threading.enumerate() if t.name == "record-index"]), original(*a, **k))[1])
    assert tasks.run_job(queued_app.extensions["jobs"].runtime, job["id"]) == "succeeded"
    assert indexing_at_finish == [[]]  # the job's last UPDATE did not queue behind the index
    for thread in threading.enumerate():
        if thread.name == "record-index":
            thread.join(30)
    with queued_app.extensions["database"].session() as session:
        assert session.scalar(select(Batch.indexed)) is True


def test_an_idle_worker_polls_the_sqlite_queue_at_least_four_times_a_second(queued_app):
    consumer = queued_app.extensions["jobs"].consumer()
    assert consumer.max_delay <= 0.25


def test_housekeeping_enqueues_again_a_queued_job_no_task_will_run(queued_app, monkeypatch):
    """Its retries ran out on a lasting fault, or its task was lost between the queue and the
    claim: without this it stayed queued until a worker restarted."""
    client = signed_in_client(queued_app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(5))).json
    queue = queued_app.extensions["jobs"]
    runtime = queue.runtime
    assert queue.waiting() == {job["id"]}
    queue.huey.flush()  # the task is gone; the job is still queued
    enqueued = []
    monkeypatch.setattr(tasks, "ORPHAN_SECONDS", 3600)
    assert tasks.housekeeping(runtime, enqueued.append, queue.waiting)["orphans_enqueued"] == 0  # may be new
    monkeypatch.setattr(tasks, "ORPHAN_SECONDS", 0)
    assert tasks.housekeeping(runtime, enqueued.append, queue.waiting)["orphans_enqueued"] == 1
    assert enqueued == [job["id"]]
    queue.enqueue(job["id"])
    assert tasks.housekeeping(runtime, enqueued.append, queue.waiting)["orphans_enqueued"] == 0  # waiting again


def test_a_results_store_fault_after_the_batch_completed_releases_the_job_for_a_retry(queued_app, monkeypatch):
    """The record stands (it completed inside the answer's write); the answer could not be kept.
    The job goes back to queued, and its retry answers from the same batch."""
    from webapp.storage import StorageFault

    client = signed_in_client(queued_app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(30))).json
    runtime = queued_app.extensions["jobs"].runtime
    original = runtime.results.create

    def full_disk(write, meta):
        original(write, meta)  # the batch completes inside the answer's write
        raise StorageFault("the results store refused the write (no space left)")

    monkeypatch.setattr(runtime.results, "create", full_disk)
    with pytest.raises(StorageFault):
        tasks.run_job(runtime, job["id"])  # raised for the queue's retry
    assert client.get(f"/api/v1/jobs/{job['id']}").json["state"] == "queued"
    monkeypatch.setattr(runtime.results, "create", original)
    assert tasks.run_job(runtime, job["id"]) == "succeeded"
    done = client.get(f"/api/v1/jobs/{job['id']}").json
    assert complete_batches(queued_app) == 1 and client.get(done["result"]).status_code == 200


def test_a_host_whose_clock_runs_ahead_never_takes_live_jobs_for_stale_on_postgresql(idle_app, monkeypatch):
    """Workers on several hosts share PostgreSQL: heartbeats and the staleness cutoff are the
    database's clock, so a housekeeper ten minutes ahead of the worker re-queues nothing."""
    database = idle_app.extensions["database"]
    if database.backend != "postgresql":
        pytest.skip("SQLite is one host's file: its clock is that host's")
    job = signed_in_client(idle_app).post("/api/v1/jobs", data=upload(csv_bytes(5))).json
    assert services.claim(database, job["id"], services.worker_id()) is not None
    ahead = services.utcnow() + timedelta(minutes=10)
    monkeypatch.setattr(services, "utcnow", lambda: ahead)
    assert services.requeue_lost(database, 60) == []
