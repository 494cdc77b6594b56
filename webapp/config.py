"""Configuration: defaults embedded here, each overridable from the environment."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _flag(name: str) -> bool:
    return (os.environ.get(name) or "").lower() in ("1", "true", "yes", "on")


def _list(name: str) -> list[str] | None:
    return [item.strip() for item in (os.environ.get(name) or "").split(",") if item.strip()] or None


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")  # None: generated once and kept in the instance folder
    # In production the key must come from the environment (the same in every worker and host).
    REQUIRE_SECRET_KEY = (os.environ.get("APP_ENV") or "").lower() == "production"
    SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE")  # set behind HTTPS
    TRUST_PROXY = _flag("TRUST_PROXY")  # honour X-Forwarded-* from one reverse proxy
    TRUSTED_HOSTS = _list("TRUSTED_HOSTS")  # Host names served (e.g. loans.example.com); others get 400
    MODEL_PATH = os.environ.get("MODEL_PATH") or str(PROJECT_ROOT / "models" / "loan_pipeline.joblib")
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER") or str(PROJECT_ROOT / "uploads")
    RESULTS_URL = os.environ.get("RESULTS_URL") or None  # any fsspec URL; None: UPLOAD_FOLDER
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None  # require a bearer token on /metrics
    # None: a SQLite file in the instance folder; else e.g. postgresql+psycopg://user@host/db
    DATABASE_URL = os.environ.get("DATABASE_URL") or None
    MODEL_STORE = os.environ.get("MODEL_STORE") or None  # None: instance/models; else any fsspec URL

    # Accounts (see "Accounts, roles, keys and single sign-on" in the README).
    SESSION_IDLE_MINUTES = _int("SESSION_IDLE_MINUTES", 30)  # a sign-in unused this long ends
    SESSION_ABSOLUTE_HOURS = _int("SESSION_ABSOLUTE_HOURS", 12)  # and every sign-in ends after this
    ADMIN_EMAIL = os.environ.get("ADMIN_EMAIL") or None  # with ADMIN_PASSWORD: the first admin, if no users
    ADMIN_PASSWORD = os.environ.get("ADMIN_PASSWORD") or None
    REDIS_URL = os.environ.get("REDIS_URL") or None  # shared sign-in throttle counts (else per process)
    OIDC_ISSUER = os.environ.get("OIDC_ISSUER") or None  # e.g. https://login.bank.example/ : enables SSO
    OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID") or None
    OIDC_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET") or None
    OIDC_ROLES_CLAIM = os.environ.get("OIDC_ROLES_CLAIM") or "roles"  # the ID token claim listing groups
    OIDC_ROLE_MAPPING = os.environ.get("OIDC_ROLE_MAPPING") or ""  # "loan-admins=admin,loan-analysts=analyst"
    AUTH_PROXY_HEADER = os.environ.get("AUTH_PROXY_HEADER") or None  # e.g. X-Forwarded-Email; needs TRUST_PROXY

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

    # Adverse-action notices (webapp.notices); address lines are separated by ";".
    LENDER_NAME = os.environ.get("LENDER_NAME") or "[Lender name: set LENDER_NAME]"  # the creditor on every notice
    LENDER_ADDRESS = os.environ.get("LENDER_ADDRESS") or "[Lender address: set LENDER_ADDRESS]"  # its postal address
    LENDER_CONTACT = os.environ.get("LENDER_CONTACT") or "[whom to ask: set LENDER_CONTACT]"  # office, address, phone
    # The federal agency of Regulation B Appendix A; default: the one for creditors no other agency covers.
    LENDER_AGENCY = (os.environ.get("LENDER_AGENCY")
                     or "Federal Trade Commission; Equal Credit Opportunity; Washington, DC 20580")
    NOTICE_STYLE = os.environ.get("NOTICE_STYLE") or "principal-reasons"  # or right-to-request (form C-5)
    NOTICE_RESPONSE_DAYS = _int("NOTICE_RESPONSE_DAYS", 30)  # days to supply missing information (1002.9(c)(2))

    # The decision record (webapp.records).
    RECORD_RETENTION_MONTHS = _int("RECORD_RETENTION_MONTHS", 25)  # Regulation B 1002.12(b)(1): 25 months after the notice
    RECORDS_URL = os.environ.get("RECORDS_URL") or None  # the decision archives' folder; None: instance/records
    PREVIEW_ROWS = 50

    # Batch jobs (webapp.jobs): the queue is Huey on SQLite in the instance folder, or on Redis.
    JOBS_REDIS_URL = os.environ.get("JOBS_REDIS_URL") or None  # the jobs' Redis; None: REDIS_URL, else SQLite
    JOBS_QUEUE_PATH = os.environ.get("JOBS_QUEUE_PATH") or None  # the SQLite queue file; None: instance/jobs-queue.db
    JOB_SOURCES = os.environ.get("JOB_SOURCES") or ""  # comma-separated prefixes dataset jobs may read; "": none
    JOB_THRESHOLD_BYTES = _int("JOB_THRESHOLD_BYTES", 20 * 1024 * 1024)  # page uploads larger than this run as jobs
    JOBS_STALE_SECONDS = _int("JOBS_STALE_SECONDS", 60)  # a running job's heartbeat this old: re-queued
