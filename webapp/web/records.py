"""The decision record over HTTP: `GET /api/v1/decisions?loan_id=`, `GET /api/v1/batches` (paged,
filtered), `GET /api/v1/batches/{id}`, and the pages "Batches" (`/batches`, with the person's
jobs and their state above the recorded batches) and "Look up an
application" (`/lookup`). Thin views: the queries live in `webapp.records`, one session per request.

The record holds incomes and monitored attributes: analysts see only their own batches and
decisions (another's answer 404, as if they did not exist); auditors and admins see all."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Flask, current_app, render_template, request, url_for
from werkzeug.http import HTTP_STATUS_CODES

from webapp.jobs import list_jobs
from webapp.service.recording import records_store as store_for
from webapp.records import PURPOSES, RecordError, as_datetime, decisions_for, get_batch, list_batches
from webapp.web import auth, context
from webapp.web.problems import problem

bp = Blueprint("records", __name__)
PER_PAGE = 50
JOBS_SHOWN = 20  # the newest jobs above the batches; the API lists the rest


def records_store(app: Flask) -> str:
    """Where the scoring service's `Recorder` puts archives (the service decides: one rule), and
    so where look-ups find them: a folder or an fsspec URL, as configured now."""
    return store_for(app.config, app.instance_path)


class BadQuery(ValueError):
    """A query parameter the record cannot read (answered 400)."""


def _owner() -> str | None:
    """Whose records this request may see: None for everyone's (auditors, admins), else the caller's."""
    return None if auth.can_see_all() else (auth.current_actor() or "")


def _session():
    """Look-ups only read: they never wait behind a batch being recorded."""
    return current_app.extensions["database"].read_session()


def _moment(name: str) -> datetime | date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        as_datetime(moment)  # in UTC: the first or last hours of years 1 and 9999 overflow
    except ValueError:
        raise BadQuery(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time") from None
    except OverflowError:
        raise BadQuery(f"{name} must be a time between the years 1 and 9999 in UTC") from None
    return moment


def _number(value: str | None, default: int, name: str) -> int:
    if value in (None, ""):
        return default
    # ASCII digits only (str.isdigit takes "²", which int refuses), and few: a page past a billion is no page.
    if not _WHOLE_NUMBER.fullmatch(value) or int(value) < 1:
        raise BadQuery(f"{name} must be a whole number from 1 to {MAX_PAGE_NUMBER:,}")
    return int(value)


_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
MAX_PAGE_NUMBER = 999_999_999


def _purpose() -> str | None:
    purpose = request.args.get("purpose") or None
    if purpose is not None and purpose not in PURPOSES:
        raise BadQuery(f"purpose must be one of {', '.join(PURPOSES)}")
    return purpose


def _batches_query() -> dict:
    owner = _owner()
    return {"since": _moment("since"), "until": _moment("until"),
            "actor": owner if owner is not None else (request.args.get("actor") or None),
            "purpose": _purpose(),
            "page": _number(request.args.get("page"), 1, "page"),
            "per_page": _number(request.args.get("per_page"), PER_PAGE, "per_page")}


def _bad_query(exc: BadQuery):
    return problem(400, "Bad Request", str(exc), "bad-query")


@bp.get("/api/v1/decisions")
def decisions():
    loan_id = request.args.get("loan_id")
    if not loan_id:
        return problem(400, "Bad Request", "Give the application's ID: ?loan_id=…", "bad-query")
    try:
        with _session() as session:
            return {"decisions": decisions_for(session, loan_id, actor=_owner(), store=records_store(current_app))}
    except RecordError as exc:  # an archive that cannot be read: 503
        return problem(exc.status, HTTP_STATUS_CODES[exc.status], str(exc), exc.code)


@bp.get("/api/v1/batches")
def batches():
    try:
        query = _batches_query()
    except BadQuery as exc:
        return _bad_query(exc)
    with _session() as session:
        return list_batches(session, **query)


@bp.get("/api/v1/batches/<batch_id>")
def batch(batch_id: str):
    try:
        with _session() as session:
            return get_batch(session, batch_id, owner=_owner())
    except RecordError as exc:
        return problem(exc.status, HTTP_STATUS_CODES[exc.status], str(exc), exc.code)


@bp.get("/batches")
def batches_page():
    try:
        query = _batches_query()
    except BadQuery as exc:
        return render_template("error.html", status=400, title="Bad Request", detail=str(exc)), 400
    with _session() as session:
        listing = list_batches(session, **query)
        jobs = list_jobs(session, _owner(), limit=JOBS_SHOWN)  # the person's jobs, queued to ended
    pages = max(1, -(-listing["total"] // listing["per_page"]))
    return render_template("batches.html", listing=listing, pages=pages, query=query, jobs=jobs,
                           results=_live_results(listing["batches"]))


def _live_results(batches: list[dict]) -> dict[str, str]:
    """batch id -> where the result it was answered with is, for the person's own batches whose
    result still lasts (another's result answers them 404: no link): a page upload's result page, a
    job's page. API answers are never stored, so those batches are not looked for, nor batches older
    than twice the results' time to live (a long job stores its result after its batch began)."""
    store, actor = context.results(), auth.current_actor()
    since = datetime.now(UTC) - timedelta(seconds=2 * store.ttl)
    found = {}
    for batch in batches:
        if batch["channel"] not in ("page", "job") or batch["status"] != "complete" or batch["actor"] != actor:
            continue
        if datetime.fromisoformat(batch["created_at"].replace("Z", "+00:00")) < since:
            continue
        result = store.for_batch(batch["batch_id"])
        if result is not None and result.meta.get("actor") == actor:
            job_id = result.meta.get("job_id")  # a job's result may be Parquet or Excel: its own page serves it
            found[batch["batch_id"]] = (url_for("jobs.job_page", job_id=job_id) if job_id else
                                        url_for("ui.results", token=result.token))
    return found


@bp.get("/lookup")
def lookup_page():
    typed = request.args.get("loan_id") or ""
    loan_id = typed.strip()
    found = None
    if loan_id:
        try:
            with _session() as session:  # as typed too: an ID recorded with spaces around it is found
                found = decisions_for(session, (loan_id, typed), actor=_owner(), store=records_store(current_app))
        except RecordError as exc:
            return render_template("error.html", status=exc.status, title=HTTP_STATUS_CODES[exc.status],
                                   detail=str(exc)), exc.status
    return render_template("lookup.html", loan_id=loan_id, found=found)


def openapi_paths() -> dict:
    """These routes in the OpenAPI document (merged by `webapp.web.openapi`)."""
    text = {"schema": {"type": "string"}}
    query = [{"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
             for n, t, d in (("since", "string", "Created on or after (YYYY-MM-DD or ISO 8601)"),
                             ("until", "string", "Created before (YYYY-MM-DD or ISO 8601)"),
                             ("actor", "string", "Who ran the batch"),
                             ("purpose", "string", "decision or analysis"),
                             ("page", "integer", "From 1"), ("per_page", "integer", "At most 500; default 50"))]
    loan_id = {"name": "loan_id", "in": "query", "required": True, "schema": {"type": "string"},
               "description": "The application's Loan_ID"}
    problem_json = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}

    def operation(op, summary, tags, parameters, ok, extra=None):
        responses = {"200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}
                             if tags != ["pages"] else {"text/html": text}}}
        responses.update({str(code): {"description": d, "content": problem_json if tags != ["pages"] else
                                      {"text/html": text}} for code, d in (extra or {}).items()})
        return {"get": {"operationId": op, "summary": summary, "tags": tags, "parameters": parameters,
                        "responses": responses}}

    return {
        "/api/v1/decisions": operation("decisions", "Every recorded decision for a Loan_ID, newest first",
                                       ["records"], [loan_id], "{decisions: [...]}", {400: "No loan_id"}),
        "/api/v1/batches": operation("batches", "Recorded batches, newest first, paged", ["records"], query,
                                     "{batches, page, per_page, total}", {400: "A filter is unreadable"}),
        "/api/v1/batches/{batch_id}": operation(
            "batch", "One batch: its fields, counts and summary", ["records"],
            [{"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}], "The batch",
            {404: "Unknown batch", 410: "Purged (retention)"}),
        "/batches": operation("batches_page", "Recent batches", ["pages"], query, "Batches", {400: "Bad filter"}),
        "/lookup": operation("lookup_page", "Look up an application", ["pages"],
                             [{**loan_id, "required": False}], "Its decisions"),
    }
