"""Batch jobs over HTTP: `POST /api/v1/jobs` (every body `/api/v1/score` takes, with its query
parameters, or JSON `{"source", "format"}` naming a dataset under `JOB_SOURCES`), `GET /api/v1/jobs`,
`GET /api/v1/jobs/{id}`, `GET /api/v1/jobs/{id}/result`, `DELETE /api/v1/jobs/{id}`; and the page's
side: uploads larger than `JOB_THRESHOLD_BYTES` become jobs, watched on `/jobs/{id}` (a progress bar
fed by `/jobs/{id}/status`). Thin views: the operations live in `webapp.jobs`.

Jobs belong to their owner: another analyst's job answers 404; auditors and admins see all."""
from __future__ import annotations

import json
from pathlib import PurePath

from flask import Blueprint, Flask, current_app, jsonify, render_template, request, send_file, url_for

from webapp.core.errors import InputError
from webapp.jobs import JobError, cancel, get_job, job_document, list_jobs, services
from webapp.jobs.queue import JobQueue, make_huey
from webapp.jobs.sources import check_source, parse_prefixes
from webapp.jobs.tasks import Runtime
from webapp.service import FORMATS, ScoreQuery, summary_headers
from webapp.storage import ResultExpired, ResultNotFound
from webapp.web import auth, context
from webapp.web.api import CSV_TYPES, FILE_TYPES, _answer_format, _read_input
from webapp.web.problems import problem

api_bp = Blueprint("jobs_api", __name__, url_prefix="/api/v1")
bp = Blueprint("jobs", __name__)
PEEK_BYTES = 64 * 1024  # a dataset payload is small; a JSON body larger than this is applications to score


def queue() -> JobQueue:
    return current_app.extensions["jobs"]


def _owner() -> str | None:
    return None if auth.can_see_all() else (auth.current_actor() or "")


def _session():
    return current_app.extensions["database"].session()


@api_bp.errorhandler(JobError)
def _job_problem(exc: JobError):
    return problem(exc.status, exc.title, exc.message, exc.code)


def _threshold(value) -> float | None:
    if value in (None, ""):
        return None
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise InputError("error_threshold must be a share of rows between 0 and 1, e.g. 0.05.", code="bad-query")
    return share


def _dataset_payload(source) -> dict | None:
    """A JSON body `{"source": ...}` (a dataset job), or None (JSON applications to score)."""
    head = source.read(PEEK_BYTES + 1)
    source.seek(0)
    if len(head) > PEEK_BYTES:
        return None
    try:
        body = json.loads(head)
    except ValueError:
        return None
    return body if isinstance(body, dict) and "source" in body else None


def _job_input():
    """The body, its name and whether it is JSON. A raw file body is the request's stream, copied
    once, straight into the job's stored input (not first into a spooled copy as /score reads it);
    multipart and JSON bodies as /score reads them (JSON may be a dataset payload: it is peeked at)."""
    if request.mimetype in CSV_TYPES or request.mimetype in FILE_TYPES:
        return request.stream, "input", False
    return _read_input()


@api_bp.post("/jobs")
def submit():
    source, name, json_input = _job_input()
    try:
        payload = _dataset_payload(source) if json_input else None
        values = {**request.args.to_dict(), **(payload or {})}
        query = ScoreQuery.parse(values)
        fmt = _answer_format(query, json_input and payload is None)
        options = query.options(fmt).to_dict()
        threshold = _threshold(values.get("error_threshold"))
        key = (request.headers.get("Idempotency-Key") or "").strip()[:200] or None
        source_url = None
        if payload is not None:
            check_source(payload.get("source"), current_app.extensions["jobs"].runtime.job_sources)
            source_url = payload["source"]
            engine = values.get("engine") or "local"
            if engine not in ("local", "dask"):
                raise InputError("engine must be local or dask.", code="bad-query")
            options["engine"] = engine
            name = PurePath(str(source_url).rstrip("/")).name[:200] or "dataset"
        submission = services.Submission(owner=auth.current_actor() or "anonymous", options=options, format=fmt,
                                         input_name=name, json_input=json_input, source_url=source_url,
                                         error_threshold=threshold, idempotency_key=key)
        document, created = services.submit(current_app.extensions["database"], context.results(),
                                            queue().enqueue, submission, None if payload is not None else source)
    finally:
        if source is not request.stream:
            source.close()
    response = jsonify(document)
    response.status_code = 202 if created else 200
    response.headers["Location"] = url_for("jobs_api.job", job_id=document["id"])
    return response


@api_bp.get("/jobs")
def jobs():
    with _session() as session:
        return {"jobs": list_jobs(session, _owner(), request.args.get("state") or None)}


@api_bp.get("/jobs/<job_id>")
def job(job_id: str):
    with _session() as session:
        return job_document(get_job(session, job_id, _owner()))


@api_bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str):
    return cancel(current_app.extensions["database"], context.results(), job_id, _owner())


@api_bp.get("/jobs/<job_id>/result")
def result(job_id: str):
    with _session() as session:
        found = get_job(session, job_id, _owner())
        state, token, fmt, batch_id = found.state, found.result_token, found.format, found.batch_id
        name = found.input_name
    if state != "succeeded" or not token:
        return problem(409, "Conflict", f"The job is {state}; it has no result.", "no-result")
    store = context.results()
    try:
        stored = store.get(token)
    except ResultExpired:
        return problem(410, "Gone", "The job's result has expired and was deleted.", "result-expired")
    except ResultNotFound:
        return problem(404, "Not Found", "The job's result is not in the results store.", "result-missing")
    response = send_file(store.sendable(stored), mimetype=FORMATS[fmt], max_age=0)
    response.headers.update(summary_headers(stored.meta["summary"], batch_id))
    stem = PurePath(name).stem.encode("ascii", "ignore").decode() or "input"
    stem = "".join(c for c in stem if c.isalnum() or c in "-_")[:80] or "input"
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}-predictions.{fmt}"'
    return response


# --- the page ---------------------------------------------------------------------------------------

def is_large(upload) -> bool:
    upload.stream.seek(0, 2)
    size = upload.stream.tell()
    upload.stream.seek(0)
    return size > current_app.config["JOB_THRESHOLD_BYTES"]


def submit_upload(upload, options) -> str:
    """An upload from the page, as a job; the URL of its progress page."""
    name = PurePath(upload.filename or "upload").name[:200]
    submission = services.Submission(owner=auth.current_actor() or "anonymous", options=options.to_dict(),
                                     format="csv", input_name=name)
    document, _ = services.submit(current_app.extensions["database"], context.results(), queue().enqueue,
                                  submission, upload.stream)
    return url_for("jobs.job_page", job_id=document["id"])


@bp.get("/jobs/<job_id>")
def job_page(job_id: str):
    try:
        with _session() as session:
            document = job_document(get_job(session, job_id, _owner()))
    except JobError as exc:
        return render_template("error.html", status=exc.status, title=exc.title, detail=exc.message), exc.status
    return render_template("job.html", job=document)


@bp.get("/jobs/<job_id>/status")
def job_status(job_id: str):
    """What the progress page polls (a cookie session: the API takes keys only)."""
    try:
        with _session() as session:
            found = get_job(session, job_id, _owner())
            document, token = job_document(found), found.result_token
    except JobError as exc:
        return _job_problem(exc)
    if document["state"] == "succeeded" and token:
        document["redirect"] = url_for("ui.results", token=token)
    return document


def init_app(app: Flask) -> None:
    """The queue over this app's database, stores and model; the blueprints."""
    runtime = Runtime(database=app.extensions["database"], results=app.extensions["results"],
                      records_store=app.config.get("RECORDS_URL") or f"{app.instance_path}/records",
                      models=app.extensions["models"], limits=app.extensions["limits"],
                      job_sources=parse_prefixes(app.config.get("JOB_SOURCES")),
                      progress_interval=float(app.config.get("JOBS_PROGRESS_SECONDS", 0.5)),
                      stale_seconds=float(app.config.get("JOBS_STALE_SECONDS", 60)),
                      dask_scheduler=app.config.get("DASK_SCHEDULER_ADDRESS") or None)
    app.extensions["jobs"] = JobQueue(make_huey(app.config, app.instance_path), runtime)
    app.register_blueprint(api_bp)
    app.register_blueprint(bp)


def openapi_paths() -> dict:
    """These routes in the OpenAPI document (merged by `webapp.web.openapi`)."""
    problem_json = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    job_json = {"application/json": {"schema": {"type": "object"}}}
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    score_query = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"},
                    "description": field.description} for name, field in ScoreQuery.model_fields.items()]
    extra_query = [{"name": "error_threshold", "in": "query", "required": False, "schema": {"type": "number"},
                    "description": "Share of failed rows (0-1) above which the job fails; default never."},
                   {"name": "engine", "in": "query", "required": False, "schema": {"type": "string"},
                    "description": "Dataset jobs: local (default) or dask."}]

    def responses(ok: str, extra: dict, code: str = "200", content=None):
        out = {code: {"description": ok, "content": content or job_json}}
        out.update({str(c): {"description": d, "content": problem_json} for c, d in extra.items()})
        return out

    return {
        "/api/v1/jobs": {
            "post": {"operationId": "submit_job", "summary": "Submit a job: a file (any body /score takes) or a "
                     "dataset ({\"source\": URL, \"format\": \"csv\"|\"parquet\"} under JOB_SOURCES)",
                     "tags": ["jobs"], "parameters": [*score_query, *extra_query,
                     {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                      "description": "The same key from the same user within 24 h returns the same job."}],
                     "responses": responses("The job (Location: /api/v1/jobs/{id})", {
                         400: "Unreadable options", 403: "Source outside JOB_SOURCES", 415: "Unsupported body",
                         503: "The queue cannot be reached"}, code="202")},
            "get": {"operationId": "list_jobs", "summary": "The caller's jobs, newest first", "tags": ["jobs"],
                    "parameters": [{"name": "state", "in": "query", "required": False, "schema": {"type": "string"},
                                    "description": "queued, running, finishing, succeeded, failed or cancelled"}],
                    "responses": responses("{jobs: [...]}", {400: "Unknown state"})}},
        "/api/v1/jobs/{job_id}": {
            "get": {"operationId": "get_job", "summary": "One job: state, progress, summary, error, result URL",
                    "tags": ["jobs"], "parameters": [job_id], "responses": responses("The job", {404: "Unknown job"})},
            "delete": {"operationId": "cancel_job", "summary": "Cancel a queued or running job", "tags": ["jobs"],
                       "parameters": [job_id],
                       "responses": responses("The cancelled job", {
                           404: "Unknown job", 409: "Already ended (job-ended), or finishing: its batch is being "
                           "completed and its result is kept (job-finishing)"})}},
        "/api/v1/jobs/{job_id}/result": {
            "get": {"operationId": "job_result", "summary": "The job's answer (CSV, Excel, JSON or Parquet)",
                    "tags": ["jobs"], "parameters": [job_id],
                    "responses": responses("The answer", {404: "Unknown job", 409: "Not succeeded", 410: "Expired"},
                                           content={media: {"schema": {"type": "string"}}
                                                    for media in FORMATS.values()})}},
        "/jobs/{job_id}": {"get": {"operationId": "job_page", "summary": "A job's progress page", "tags": ["pages"],
                                   "parameters": [job_id], "responses": {"200": {"description": "The page"}}}},
        "/jobs/{job_id}/status": {"get": {"operationId": "job_status", "summary": "The progress page's poll "
                                          "(signed-in session)", "tags": ["pages"], "parameters": [job_id],
                                          "responses": responses("The job, with redirect when done", {404: "Unknown"})}},
    }
