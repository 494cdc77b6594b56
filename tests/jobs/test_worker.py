"""Real worker processes (`flask jobs worker`) on a real Redis: a job submitted runs; a worker
killed with SIGKILL mid-job has its job run again by the next worker, ending with exactly one
complete batch of its rows."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.jobs.conftest import csv_bytes, make_app, upload
from webapp.records.models import Batch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_app(model_path, tmp_path, redis_url):
    database = f"sqlite:///{tmp_path / 'w.db'}"
    app = make_app(model_path, tmp_path, database, JOBS_REDIS_URL=redis_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODEL_PATH": str(model_path), "DATABASE_URL": database,
           "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"], "RECORDS_URL": app.config["RECORDS_URL"],
           "MODEL_STORE": app.config["MODEL_STORE"], "JOBS_REDIS_URL": redis_url, "SECRET_KEY": "test",
           "LOG_LEVEL": "warning"}
    started, logs = [], []

    def start_worker():
        log = open(tmp_path / f"worker-{len(started)}.log", "w")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "webapp", "jobs", "worker"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return process

    app.start_worker = start_worker
    yield app
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    for log in logs:
        log.close()
    app.extensions["database"].dispose()


def _wait(client, job_id: str, until, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json
        if until(job):
            return job
        time.sleep(0.1)
    pytest.fail(f"job {job_id} never got there: {job}")


def test_a_worker_runs_a_submitted_job(worker_app):
    worker_app.start_worker()
    client = signed_in_client(worker_app)
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(50))).json
    done = _wait(client, job["id"], lambda j: j["state"] in ("succeeded", "failed"))
    assert done["state"] == "succeeded" and done["progress"]["rows_done"] == 50


def test_a_worker_killed_mid_job_has_its_job_run_again_and_recorded_once(worker_app):
    client = signed_in_client(worker_app)
    rows = 400_000
    job = client.post("/api/v1/jobs", data=upload(csv_bytes(rows, seed=11))).json
    first = worker_app.start_worker()
    _wait(client, job["id"], lambda j: j["state"] == "running" and j["progress"]["rows_done"] > 0)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    worker_app.start_worker()  # finds the job running on a dead process of this host: re-queues it
    done = _wait(client, job["id"], lambda j: j["state"] in ("succeeded", "failed", "cancelled"), timeout=300)
    assert done["state"] == "succeeded", done["error"]
    assert done["attempts"] == 2 and done["progress"]["rows_done"] == rows
    with worker_app.extensions["database"].session() as session:
        complete = list(session.scalars(select(Batch).where(Batch.status == "complete")))
    assert [(b.id, b.rows) for b in complete] == [(done["batch_id"], rows)]
