"""Loan batch scoring service: the application factory."""
from __future__ import annotations

import functools
import logging
import os
import secrets
from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from webapp.service import ModelProvider
from webapp.storage import ResultStore

log = logging.getLogger(__name__)
csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    from webapp import config  # here, so that `python -m webapp.config` runs a module not yet imported

    settings = {**config.load_or_exit(), **(test_config or {})}  # a bad value stops the start with one line
    instance = settings.get("INSTANCE_PATH")
    app = Flask(__name__, template_folder="../templates", static_folder="../static", instance_relative_config=True,
                instance_path=os.path.abspath(instance) if instance else None)
    app.config.from_object(config.Config)
    app.config.update(settings)
    app.json.sort_keys = False  # keep predictions in the contract's column order
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        if app.config.get("REQUIRE_SECRET_KEY"):
            raise RuntimeError("SECRET_KEY must be set in the environment when APP_ENV=production "
                               "(the same value for every worker and host).")
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))
    if app.config.get("TRUST_PROXY"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    _attach_storage(app)
    _attach_database(app)

    from webapp import cli
    from webapp.web import (api, auth, health, jobs, metrics, models, notices, observability, openapi, permissions,
                            problems, records, security, ui)

    csrf.init_app(app)
    csrf.exempt(api.bp)  # the API authenticates by header (an API key), never by cookie
    csrf.exempt(auth.api_bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(ui.bp)
    models.init_app(app)  # the model registry's API, and the registry itself
    _attach_model(app)  # after the registry: the champion is served from it
    app.register_blueprint(records.bp)
    jobs.init_app(app)  # the queue and its blueprints
    csrf.exempt(jobs.api_bp)
    app.register_blueprint(notices.bp)
    security.init_app(app)
    auth.init_app(app)
    permissions.init_app(app)
    observability.init_app(app)
    metrics.init_app(app)
    problems.init_app(app)
    cli.init_app(app)
    return app


def _attach_model(app: Flask) -> None:
    """Serve the registry's champion (each version loaded once per process; the shipped artifact
    stands in for its version when it is that version as registered). A failure leaves the app up
    (so `flask train` can mend it) with /healthz answering 503 and the reason."""
    models = ModelProvider.load(app.config["MODEL_PATH"], registry=app.extensions.get("model_registry"))
    if models.error:
        log.error("model not loaded: %s", models.error)
        # /healthz answers anyone: file names, not where the files live.
        models.error = models.error.replace(f"{Path(app.config['MODEL_PATH']).parent}{os.sep}", "")
    app.extensions["models"] = models
    from webapp.service.recording import records_store
    from webapp.service.replay import RecordedScorer

    # `flask records replay`: the stored inputs re-scored by the model version each batch recorded.
    app.extensions["score_frame"] = RecordedScorer(app.extensions["database"], models,
                                                   records_store(app.config, app.instance_path))


def _attach_storage(app: Flask) -> None:
    from webapp import config

    app.extensions["limits"] = config.limits(app.config)
    app.extensions["results"] = ResultStore(app.config.get("RESULTS_URL") or app.config["UPLOAD_FOLDER"],
                                            app.config["RESULT_TTL_SECONDS"])


def _attach_database(app: Flask) -> None:
    """One engine per process; the schema is created in an empty database and checked otherwise
    (a database at another revision stops the start with what to run)."""
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from webapp.db import Database, SchemaMismatch, ensure_schema

    url = app.config.get("DATABASE_URL") or f"sqlite:///{Path(app.instance_path) / 'loan-scoring.db'}"
    app.config["DATABASE_URL"] = url
    database = Database(url)
    try:
        ensure_schema(database.engine)
    except SchemaMismatch as exc:
        if not _running_db_command():
            raise SystemExit(f"error: {exc}") from None  # one clear line, not a traceback
    except OperationalError as exc:
        # Not started half-way: a server that cannot record answers nothing (its supervisor retries).
        where = database.engine.url.render_as_string(hide_password=True)
        raise SystemExit(f"error: the database at {where} cannot be reached ({type(exc.orig or exc).__name__}); "
                         "start it, or point DATABASE_URL at one that runs") from None
    app.extensions["database"] = database
    app.register_error_handler(SQLAlchemyError, _database_fault)
    app.extensions["role_of"] = functools.partial(_role_of, database)


def _database_fault(error):
    """Any query that fails on a database fault (down, dropped, full) answers 503, never a 500 —
    and never with the statement, which may quote applicants' values."""
    from sqlalchemy.exc import DataError, InterfaceError, OperationalError

    from webapp.core.errors import DatabaseUnavailable, InputError
    from webapp.web import problems

    if isinstance(error, DataError) and "NUL" in str(error.orig):  # a form value PostgreSQL cannot store
        return problems.handle_input_error(InputError("A value holds a NUL character, which cannot be kept.",
                                                      code="nul-character"))
    if not isinstance(error, OperationalError | InterfaceError):
        return problems.handle_unexpected(error)  # a bad query is a bug, not the database's fault
    return problems.handle_service_unavailable(DatabaseUnavailable(
        f"The database cannot be reached right now ({type(error.orig or error).__name__}); try again later."))


def _role_of(database, email: str) -> str | None:
    from webapp.accounts import services

    with database.session() as session:
        return services.role_of(session, email)


def _running_db_command() -> bool:
    """`flask db …` must start against a database it is about to migrate."""
    import sys

    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    return bool(args) and Path(sys.argv[0]).name in ("flask", "__main__.py") and "db" in args[:3]


def _instance_secret_key(instance: Path) -> str:
    """A random key kept in the instance folder, so every worker and restart shares it
    (CSRF tokens fail at random otherwise) and no default key ships in the code."""
    key_file = instance / "secret_key"
    if not key_file.exists():
        try:
            with open(key_file, "x", encoding="ascii") as fh:  # "x": the first worker wins a race
                fh.write(secrets.token_hex(32))
            key_file.chmod(0o600)
        except FileExistsError:
            pass
    return key_file.read_text(encoding="ascii").strip()
