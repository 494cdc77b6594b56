"""Liveness and readiness probes."""
from __future__ import annotations

from flask import Blueprint, current_app

from webapp.web import context

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    model = context.model_or_none()
    if model is None:
        return {"status": "unavailable", "detail": context.model_error()}, 503
    # "source": "registry" with a registry (its champion, the last one read when it cannot answer);
    # "shipped" only for an app without one.
    return {"status": "ok", "model": {"name": model.name, "version": model.version},
            "serving": current_app.extensions["models"].describe()}


@bp.get("/readyz")
def readyz():
    """Ready when a request could be scored, its result stored and its batch recorded now."""
    model = context.model_or_none()
    storage_problem = context.results().check()
    database_problem = current_app.extensions["database"].check()
    ready = model is not None and storage_problem is None and database_problem is None
    body = {"status": "ready" if ready else "not ready", "model_loaded": model is not None,
            "uploads_writable": storage_problem is None,
            **({"storage": storage_problem} if storage_problem else {}),
            **({"database": database_problem} if database_problem else {})}
    return body, 200 if ready else 503
