from __future__ import annotations

import contextlib
import os
import urllib.request
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests import factories
from webapp import create_app
from webapp.model import training

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def own_model_store(tmp_path, monkeypatch):
    """Every app a test builds keeps its model versions in the test's own store (not the instance
    folder, which tests would share), and its instance folder is the test's own: no test writes a
    database, queue, key or archive into the project's `instance/`, which `make run` serves from."""
    monkeypatch.setenv("MODEL_STORE", str(tmp_path / "model-store"))
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))


@pytest.fixture(scope="session")
def training_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.csv"
    factories.applications(120, seed=1, labelled=True).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def model_path(tmp_path_factory, training_csv) -> Path:
    """A tiny pipeline trained in-process, so tests need neither ../shared nor the shipped model:
    a logistic regression, as shipped, so the fast path and explanations are those of production."""
    out = tmp_path_factory.mktemp("model") / "tiny.joblib"
    options = training.TrainingOptions(folds=3, repeats=1, quick=True, candidates=("logistic_regression",),
                                       consider_calibration=False)
    training.save(training.train(training_csv, options, progress=lambda _: None), out)
    return out


@pytest.fixture(scope="session")
def forest_model_path(tmp_path_factory, training_csv) -> Path:
    """A random forest: scored through the scikit-learn pipeline, with no exact explanations."""
    out = tmp_path_factory.mktemp("forest") / "forest.joblib"
    options = training.TrainingOptions(folds=3, repeats=1, quick=True, candidates=("random_forest",))
    training.save(training.train(training_csv, options, progress=lambda _: None), out)
    return out


class BufferedClient(FlaskClient):
    """Reads each answer fully and closes it, as a WSGI server does (closing streamed files)."""

    def open(self, *args, buffered=True, **kwargs):
        response = super().open(*args, buffered=buffered, **kwargs)
        # Werkzeug's EnvironBuilder spools request bodies over 500 KB to a temporary file that it
        # never closes; a server owns its input stream, so close the test harness's copy here.
        body = response.request.environ.get("wsgi.input")
        if body is not None:
            body.close()
        return response


@pytest.fixture
def app(model_path, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test",
        "MODEL_PATH": str(model_path),
        "UPLOAD_FOLDER": str(uploads),
        "WTF_CSRF_ENABLED": False,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
        "MODEL_STORE": str(tmp_path / "models"),
    })
    app.test_client_class = BufferedClient
    return app


ANALYST_EMAIL = "analyst@bank.example"


def signed_in_client(app, email: str = ANALYST_EMAIL, role: str = "analyst") -> FlaskClient:
    """A test client signed in as a new user with `role`: a browser session for the pages and the
    user's API key as the default `Authorization` header for the API (a request's own header wins)."""
    from webapp.accounts import services

    with app.extensions["database"].session() as s:
        user = services.find_user(s, email) or services.create_user(s, email, role)
        session_id = services.start_session(s, user)
        key, _ = services.create_key(s, email, name="tests")
    client = app.test_client()
    with client.session_transaction() as cookie_session:
        cookie_session["_user_id"] = session_id  # what flask_login.login_user stores
        cookie_session["_fresh"] = True
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@pytest.fixture
def client(app):
    """Signed in as an analyst (pages and API), as every test before accounts assumed anyone was."""
    return signed_in_client(app)


@pytest.fixture
def anonymous_client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@contextlib.contextmanager
def local_cluster(n_workers: int, processes: bool = True):
    """A real Dask cluster on 127.0.0.1 (its dashboard on a free loopback port), bounded in time."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", death_timeout=60) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "loan_test.csv").exists():
        pytest.skip("../shared/data is not beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def loaded_model(model_path):
    from webapp.model.loading import load_model

    return load_model(model_path)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer(str):
    """The server's base URL, carrying the gunicorn master's pid, its metrics directory, and the
    admin account (email, password, an API key) made for the tests."""

    pid: int
    metrics_dir: Path
    email: str = "admin@example.test"
    password: str = "live-server-admin-passphrase"
    api_key: str


class _KeyForTheLiveServer(urllib.request.BaseHandler):
    """Adds the live server's API key to every urllib request for it (a request's own header wins)."""

    def __init__(self, base: "LiveServer"):
        self.base = base

    def http_request(self, request):
        if request.full_url.startswith(self.base) and not request.has_header("Authorization"):
            request.add_unredirected_header("Authorization", f"Bearer {self.base.api_key}")
        return request


def sign_in_page(page, base: "LiveServer") -> None:
    """Sign a browser page in to the live server as its admin."""
    page.goto(base + "/login")
    page.fill("#email", base.email)
    page.fill("#password", base.password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


ROOT = Path(__file__).resolve().parents[1]


def create_key(env: dict, email: str) -> str:
    """An API key for `email` made with `flask keys create` (with ADMIN_EMAIL/ADMIN_PASSWORD in `env`,
    the admin account is made first)."""
    import subprocess
    import sys

    made = subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", "keys", "create", email,
                           "--name", "tests"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    return made.stdout.strip().splitlines()[-1]


def start_gunicorn(env: dict, base: str, log_path: Path, timeout: float = 60):
    """A gunicorn (the project's gunicorn.conf.py, bound by `env["BIND"]`) answering `/healthz` at
    `base`; returns the process and its open log. Fails the test if it does not start in `timeout`."""
    import subprocess
    import sys
    import time

    log = open(log_path, "w+")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
                                "webapp:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return process, log
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                tail = log.read()[-3000:]
                stop(process, log)
                pytest.fail(f"gunicorn did not start:\n{tail}")
            time.sleep(0.2)


def start_worker(env: dict, log_path: Path):
    """A jobs worker (`flask jobs worker`); returns the process and its open log."""
    import subprocess
    import sys

    log = open(log_path, "w")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "webapp", "jobs", "worker"], cwd=ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, log


def stop(process, log=None, timeout: float = 30) -> None:
    """Terminate a process we started (killed if it does not stop in `timeout`), and close its log."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    if log is not None and not log.closed:
        log.close()


@pytest.fixture(scope="session")
def live_server(model_path, tmp_path_factory):
    """A real gunicorn (2 workers, the project's gunicorn.conf.py) on 127.0.0.1; yields its base URL.
    `base.env` is its environment, so a test can start a jobs worker beside it (its own queue file)."""
    port = free_port()
    uploads = tmp_path_factory.mktemp("live-uploads")
    metrics = tmp_path_factory.mktemp("live-metrics")
    base = LiveServer(f"http://127.0.0.1:{port}")
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "MODEL_PATH": str(model_path),
           "UPLOAD_FOLDER": str(uploads), "SECRET_KEY": "live-test", "LOG_LEVEL": "warning",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics),
           "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('live-db') / 'live.db'}",
           "MODEL_STORE": str(tmp_path_factory.mktemp("live-models")),
           "RECORDS_URL": str(tmp_path_factory.mktemp("live-records")),
           "JOBS_QUEUE_PATH": str(tmp_path_factory.mktemp("live-queue") / "queue.db"),
           "ADMIN_EMAIL": base.email, "ADMIN_PASSWORD": base.password}
    base.api_key = create_key(env, base.email)
    base.env = env
    urllib.request.install_opener(urllib.request.build_opener(_KeyForTheLiveServer(base)))
    process, log = start_gunicorn(env, base, tmp_path_factory.mktemp("live-log") / "gunicorn.log")
    base.pid = process.pid
    base.metrics_dir = metrics
    base.log_path = Path(log.name)
    yield base
    urllib.request.install_opener(None)
    stop(process, log)


POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _service_missing(what: str, exc: Exception):
    """CI must run against the real servers: there a missing one fails the run instead of skipping."""
    message = f"{what} is unreachable ({type(exc).__name__}); the tests need it on 127.0.0.1"
    if os.environ.get("REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_database():
    """A PostgreSQL database of this test session's own, dropped at the end."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"loan_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        admin.dispose()
        _service_missing("PostgreSQL", exc)
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each test that takes this runs twice: on a fresh SQLite file and on an empty PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.db'}"
        return
    from sqlalchemy import create_engine, text

    url = request.getfixturevalue("postgres_database")
    yield url
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:  # empty again for the next test
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def migrated_database(database_url):
    """A `Database` on each backend in turn, brought to the current revision; disposed after."""
    from webapp.db import Database, ensure_schema

    database = Database(database_url)
    ensure_schema(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def db_app(model_path, tmp_path, database_url):
    """The app on each database in turn."""
    uploads = tmp_path / "db-uploads"
    uploads.mkdir()
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "MODEL_PATH": str(model_path),
                      "UPLOAD_FOLDER": str(uploads), "WTF_CSRF_ENABLED": False, "DATABASE_URL": database_url,
                      "MODEL_STORE": str(tmp_path / "db-models")})
    app.test_client_class = BufferedClient
    yield app
    app.extensions["database"].dispose()
