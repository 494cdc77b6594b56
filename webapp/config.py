"""Configuration: defaults embedded here, each overridable from the environment."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _flag(name: str) -> bool:
    return (os.environ.get(name) or "").lower() in ("1", "true", "yes", "on")


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")  # None: generated once and kept in the instance folder
    # In production the key must come from the environment (the same in every worker and host).
    REQUIRE_SECRET_KEY = (os.environ.get("APP_ENV") or "").lower() == "production"
    SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE")  # set behind HTTPS
    TRUST_PROXY = _flag("TRUST_PROXY")  # honour X-Forwarded-* from one reverse proxy
    MODEL_PATH = os.environ.get("MODEL_PATH") or str(PROJECT_ROOT / "models" / "loan_pipeline.joblib")
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER") or str(PROJECT_ROOT / "uploads")
    API_TOKEN = os.environ.get("API_TOKEN") or None
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None  # require a bearer token on /metrics
    # None: a SQLite file in the instance folder; else e.g. postgresql+psycopg://user@host/db
    DATABASE_URL = os.environ.get("DATABASE_URL") or None

    # Limits (see SECURITY notes in the README): refused with a clear 4xx, never a 500.
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 100 * 1024 * 1024)
    MAX_FORM_MEMORY_SIZE = _int("MAX_FORM_MEMORY_SIZE", 500_000)
    MAX_FORM_PARTS = _int("MAX_FORM_PARTS", 100)
    MAX_ROWS = _int("MAX_ROWS", 2_000_000)
    MAX_COLUMNS = _int("MAX_COLUMNS", 200)
    MAX_CELL_LENGTH = _int("MAX_CELL_LENGTH", 1_000)
    MAX_XLSX_UNCOMPRESSED = _int("MAX_XLSX_UNCOMPRESSED", 1024 * 1024 * 1024)
    MAX_JSON_DEPTH = _int("MAX_JSON_DEPTH", 20)
    MAX_JSON_BYTES = _int("MAX_JSON_BYTES", 20 * 1024 * 1024)  # parsing costs ~10x the body in memory
    REQUEST_TIME_BUDGET = _int("REQUEST_TIME_BUDGET", 240)  # seconds of scoring per request

    RESULT_TTL_SECONDS = _int("RESULT_TTL_SECONDS", 24 * 3600)
    RECORD_RETENTION_MONTHS = _int("RECORD_RETENTION_MONTHS", 25)  # Regulation B 1002.12(b)(1): 25 months after the notice
    RECORDS_URL = os.environ.get("RECORDS_URL") or None  # the decision archives' folder; None: instance/records
    PREVIEW_ROWS = 50
