"""One log line per request: a request id, sizes, counts and timings — never applicant data."""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request

from webapp.web import metrics

log = logging.getLogger("webapp.requests")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def record_summary(summary) -> None:
    """Views call this so the request's log line and the metrics carry its row counts."""
    g.rows = {"rows": summary.rows, "scored": summary.scored, "failed": summary.failed}
    metrics.observe_summary(summary)


def request_id() -> str:
    """The caller's X-Request-ID when it is safe to log, else a new one; assigned on first use,
    because hooks that run before ours (CSRF) can refuse a request before `start` sees it."""
    if "request_id" not in g:
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if _SAFE_ID.match(supplied) else uuid.uuid4().hex
    return g.request_id


def init_app(app: Flask) -> None:
    if not app.debug and not logging.getLogger("webapp").handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.getLogger("webapp").addHandler(handler)
        logging.getLogger("webapp").setLevel(logging.INFO)

    @app.before_request
    def start():
        request_id()
        g.started = time.perf_counter()

    @app.after_request
    def finish(response):
        response.headers.add("X-Request-ID", request_id())  # only this hook sets it: no scan for another
        # For gunicorn's access log (gunicorn.conf.py): the route, not the path with its token.
        request.environ["webapp.route"] = request.url_rule.rule if request.url_rule else "unmatched"
        if request.endpoint == "static":
            return response
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.observe_request(route, request.method, response.status_code, elapsed)
        elapsed_ms = elapsed * 1000
        rows = g.get("rows") or {}
        log.info("request_id=%s method=%s path=%s status=%s bytes_in=%s bytes_out=%s ms=%.1f%s",
                 request_id(), request.method, request.url_rule.rule if request.url_rule else "-",
                 response.status_code, request.content_length or 0, response.content_length or "-", elapsed_ms,
                 "".join(f" {k}={v}" for k, v in rows.items()))
        return response
