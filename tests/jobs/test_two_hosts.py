"""Two hosts: two gunicorn servers on two ports and two workers (`flask jobs worker`), sharing one
PostgreSQL database, one Redis queue and one results store. A job submitted to one server is
watched and downloaded from the other."""
from __future__ import annotations

import csv
import io
import json
import os
import time
import urllib.request

import pytest

from tests.conftest import create_key, free_port, start_gunicorn, start_worker, stop
from tests.jobs.conftest import csv_bytes, empty_redis

pytestmark = pytest.mark.server
REDIS_URL = "redis://127.0.0.1:6379/12"  # this test's own database number
EMAIL, PASSWORD = "admin@two-hosts.test", "two-hosts-admin-passphrase"
ROWS = 2_000


@pytest.fixture
def shared_redis():
    yield from empty_redis(REDIS_URL)


@pytest.fixture
def shared_postgres(postgres_database):
    """The session's PostgreSQL database, emptied afterwards (as `database_url` does)."""
    from sqlalchemy import create_engine, text

    yield postgres_database
    engine = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def two_hosts(model_path, tmp_path, shared_postgres, shared_redis):
    """The two servers' base URLs and an API key good on both (one database)."""
    shared = {"DATABASE_URL": shared_postgres, "JOBS_REDIS_URL": shared_redis, "REDIS_URL": shared_redis,
              "UPLOAD_FOLDER": str(tmp_path / "results"), "RECORDS_URL": str(tmp_path / "records"),
              "MODEL_STORE": str(tmp_path / "models"), "MODEL_PATH": str(model_path), "SECRET_KEY": "two-hosts",
              "LOG_LEVEL": "warning", "ADMIN_EMAIL": EMAIL, "ADMIN_PASSWORD": PASSWORD}
    (tmp_path / "results").mkdir()
    env = {**os.environ, **shared}
    key = create_key(env, EMAIL)
    started, bases = [], []
    try:
        for host in ("a", "b"):
            port = free_port()
            metrics = tmp_path / f"metrics-{host}"
            metrics.mkdir()
            server_env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
                          "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
            base = f"http://127.0.0.1:{port}"
            started.append(start_gunicorn(server_env, base, tmp_path / f"server-{host}.log"))
            started.append(start_worker(env, tmp_path / f"worker-{host}.log"))
            bases.append(base)
        yield bases, key
    finally:
        for process, log in started:
            stop(process, log)


def _call(url: str, key: str, data: bytes | None = None, content_type: str | None = None):
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Authorization": f"Bearer {key}",
                                              **({"Content-Type": content_type} if content_type else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def test_a_job_submitted_to_one_server_is_watched_and_downloaded_from_the_other(two_hosts):
    (first, second), key = two_hosts
    status, headers, body = _call(f"{first}/api/v1/jobs", key, csv_bytes(ROWS, seed=5), "text/csv")
    assert status == 202
    job = json.loads(body)
    assert headers["Location"] == f"/api/v1/jobs/{job['id']}"

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        watched = json.loads(_call(f"{second}/api/v1/jobs/{job['id']}", key)[2])
        if watched["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert watched["state"] == "succeeded", watched
    assert watched["progress"]["rows_done"] == ROWS and watched["summary"]["rows"] == ROWS

    status, _, answer = _call(f"{second}{watched['result']}", key)
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(answer.decode())))
    assert len(rows) == ROWS and {r["Loan_Status"] for r in rows} <= {"Y", "N"}
