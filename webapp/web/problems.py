"""Errors as RFC 9457 problem details for the API, and the app-wide HTTP error handlers."""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from webapp.core.errors import InputError, ServiceUnavailable

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, code: str, **extra) -> Response:
    """A problem+json response. `type` points at the problem's entry on the API docs page."""
    body = {"type": f"/docs#problem-{code}", "title": title, "status": status, "detail": detail, "code": code, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def input_problem(error: InputError | ServiceUnavailable) -> Response:
    return problem(error.status, error.title, error.message, error.code, **error.details)


MACHINE_PATHS = ("/openapi.json", "/healthz", "/readyz", "/metrics")


def wants_json() -> bool:
    """API and probe paths always answer JSON; elsewhere the Accept header decides (microblog's rule)."""
    if request.path.startswith("/api/") or request.path in MACHINE_PATHS:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


def handle_input_error(error: InputError | ServiceUnavailable):
    if wants_json():
        return input_problem(error)
    return render_template("error.html", status=error.status, title=error.title, detail=error.message), error.status


def handle_service_unavailable(error: ServiceUnavailable):
    log.warning("service unavailable on %s %s: %s", request.method, request.path, error.code)
    return handle_input_error(error)


def handle_http_error(error: HTTPException):
    code = (error.name or "error").lower().replace(" ", "-")
    detail = _detail(error)
    if wants_json():
        response = problem(error.code or 500, error.name, detail, code)
    else:
        response = make_response(render_template("error.html", status=error.code, title=error.name, detail=detail),
                                 error.code)
    if error.code == 405 and getattr(error, "valid_methods", None):  # RFC 9110 15.5.6: a 405 lists what is allowed
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def handle_unexpected(error: Exception):
    # A 500 is always a bug: log it with its trace, show the caller nothing of the internals.
    log.exception("unhandled error on %s %s", request.method, request.path)
    detail = "Something went wrong on our side. The error has been logged."
    if wants_json():
        return problem(500, "Internal Server Error", detail, "internal-error")
    return render_template("error.html", status=500, title="Internal Server Error", detail=detail), 500


def refuse_nul_bytes():
    """A NUL character in the path or the query is no name or value of ours (and PostgreSQL cannot
    store one): 404 for a path, 400 for a query, before any view looks it up."""
    if "\x00" in request.path:
        return handle_http_error(NotFound())
    if any("\x00" in value for _, value in request.args.items(multi=True)):
        return handle_http_error(BadRequest("A query value holds a NUL character."))
    return None


def init_app(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_nul_bytes)  # before sign-in looks a key up
    app.register_error_handler(InputError, handle_input_error)
    app.register_error_handler(ServiceUnavailable, handle_service_unavailable)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)


def _detail(error: HTTPException) -> str:
    if error.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return f"The request is larger than this service accepts ({size_text(limit)})." if limit else error.description
    return error.description or error.name


def size_text(limit: int) -> str:
    """`100 MB`, `1.5 MB`, `200 KB`, `512 bytes`: never `0 MB` for a limit under a megabyte."""
    if limit >= 1 << 20:
        return f"{limit / 2**20:,.3g} MB" if limit % (1 << 20) else f"{limit >> 20:,} MB"
    return f"{limit / 1024:,.3g} KB" if limit >= 1024 else f"{limit:,} bytes"
