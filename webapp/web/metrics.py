"""Prometheus metrics for operations, at GET /metrics.

Under gunicorn every worker is a process with its own counters, so prometheus-client runs in its
multiprocess mode: each process writes its values to files in PROMETHEUS_MULTIPROC_DIR (created
fresh and cleaned by gunicorn.conf.py), and a scrape, whichever worker answers it, adds up all of
them. Without that directory (the development server, the tests' client) the process's own
registry is served. Labels carry routes (the URL rule, never the URL: no result tokens), methods,
status codes and failure reasons (column and rule, never a value): no applicant data.
"""
from __future__ import annotations

import os

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from webapp.web.security import bearer_matches

bp = Blueprint("metrics", __name__)

REQUESTS = Counter("loan_http_requests_total", "HTTP requests answered, by route, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("loan_http_request_duration_seconds", "Time to answer a request, by route", ["route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
ROWS_SCORED = Counter("loan_rows_scored_total", "Rows scored (with a prediction)")
ROWS_FAILED = Counter("loan_rows_failed_total", "Rows that failed validation (with an error)")
ROW_FAILURES = Counter("loan_row_failures_total", "Failed row checks, by reason (column: rule)", ["reason"])
UPLOAD_BYTES = Counter("loan_upload_bytes_total", "Bytes received in scoring requests")
# Info metrics are not supported in multiprocess mode: the usual gauge set to 1, labelled.
MODEL_INFO = Gauge("loan_model_info", "The loaded model's name and version (value 1)", ["name", "version"],
                   multiprocess_mode="max")
SCORING_ENDPOINTS = ("api.score", "ui.index")


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)
    if request.endpoint in SCORING_ENDPOINTS and request.method == "POST":
        UPLOAD_BYTES.inc(request.content_length or 0)


def observe_summary(summary) -> None:
    ROWS_SCORED.inc(summary.scored)
    ROWS_FAILED.inc(summary.failed)
    for reason, count in summary.failures_by_reason.items():
        ROW_FAILURES.labels(reason).inc(count)


@bp.get("/metrics")
def metrics():
    token = current_app.config.get("METRICS_TOKEN")
    if token and not bearer_matches(request.headers.get("Authorization", ""), token):
        from webapp.web.problems import problem

        response = problem(401, "Unauthorized", "Send the metrics token as 'Authorization: Bearer <token>'.",
                           "unauthorized")
        response.headers["WWW-Authenticate"] = 'Bearer realm="loan-scoring-metrics"'
        return response
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def init_app(app: Flask) -> None:
    model = app.extensions["models"].current_or_none()
    if model is not None:
        MODEL_INFO.labels(model.name, model.version).set(1)
    app.register_blueprint(bp)
