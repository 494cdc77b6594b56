"""Fixtures for the jobs: the app on each database with Huey in immediate mode (a job runs as it is
submitted), apps whose queue nobody consumes (jobs stay queued), a Redis database of our own, and
inputs built by the factories."""
from __future__ import annotations

import dataclasses
import io

import pytest

from tests import factories
from tests.conftest import BufferedClient, _service_missing, local_cluster
from webapp import create_app

REDIS_URL = "redis://127.0.0.1:6379/11"  # the jobs tests' own database number


def csv_bytes(n: int, *, seed: int = 3, broken: int = 0) -> bytes:
    frame = factories.applications(n, seed=seed)
    if broken:
        frame.loc[: broken - 1, "Property_Area"] = "Mars"
    return frame.to_csv(index=False).encode()


def upload(data: bytes, name: str = "applicants.csv") -> dict:
    return {"file": (io.BytesIO(data), name)}


def make_app(model_path, tmp_path, database_url: str, **config):
    uploads = tmp_path / "uploads"
    uploads.mkdir(exist_ok=True)
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "MODEL_PATH": str(model_path),
                      "UPLOAD_FOLDER": str(uploads), "WTF_CSRF_ENABLED": False, "DATABASE_URL": database_url,
                      "MODEL_STORE": str(tmp_path / "models"), "RECORDS_URL": str(tmp_path / "records"),
                      "JOBS_QUEUE_PATH": str(tmp_path / "queue.db"), **config})
    app.test_client_class = BufferedClient
    return app


def small_chunks(app, rows: int = 25) -> None:
    """Chunks of a few rows, so a small input has several progress points."""
    runtime = app.extensions["jobs"].runtime
    runtime.limits = dataclasses.replace(runtime.limits, chunk_rows=rows)
    runtime.progress_interval = 0.0


@pytest.fixture
def jobs_app(model_path, tmp_path, database_url):
    app = make_app(model_path, tmp_path, database_url, JOBS_IMMEDIATE=True)
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def queued_app(model_path, tmp_path):
    """Jobs queue on SQLite and nobody consumes them."""
    app = make_app(model_path, tmp_path, f"sqlite:///{tmp_path / 'queued.db'}")
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def idle_app(model_path, tmp_path, database_url):
    """Jobs queue on each database in turn and nobody consumes them: a test runs the worker's
    `run_job` itself, with hooks where it needs an order of events."""
    app = make_app(model_path, tmp_path, database_url)
    yield app
    app.extensions["database"].dispose()


def empty_redis(url: str):
    """Yield `url` with its Redis database emptied before and after; fail in CI when Redis is down."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _service_missing("Redis", exc)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_url():
    yield from empty_redis(REDIS_URL)


@pytest.fixture(scope="module")
def dask_cluster():
    """A real Dask cluster of one single-threaded worker process: small, but the model and the
    part tasks still cross a process boundary as on a real cluster."""
    with local_cluster(n_workers=1) as cluster:
        yield cluster
