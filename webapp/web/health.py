"""Liveness and readiness probes."""
from __future__ import annotations

import os

from flask import Blueprint, current_app

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    model = current_app.extensions.get("loan_model")
    if model is None:
        return {"status": "unavailable", "detail": current_app.extensions.get("loan_model_error")}, 503
    return {"status": "ok", "model": {"name": model.name, "version": model.version}}


@bp.get("/readyz")
def readyz():
    model = current_app.extensions.get("loan_model")
    uploads_writable = os.access(current_app.config["UPLOAD_FOLDER"], os.W_OK)
    ready = model is not None and uploads_writable
    body = {"status": "ready" if ready else "not ready", "model_loaded": model is not None,
            "uploads_writable": uploads_writable}
    return body, 200 if ready else 503
