"""Adverse-action notices over HTTP, made from the decision record: `GET
/api/v1/batches/{id}/notices.{pdf,zip,csv}` (by API key), the same under `/batches/{id}/` for the
batch pages, and `/results/{token}/notices.{fmt}` for the results page, which alone can address
them: the applicants' names and addresses it kept beside the 24-hour result. Each generation is an
event (who, when, template version, the bytes' SHA-256), never with a name or address.

Owner-scoped like the batch itself: another analyst's batch answers 404; an analysis batch 409."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app
from werkzeug.http import HTTP_STATUS_CODES

from webapp.accounts import services as accounts
from webapp.notices import applicants as applicant_file
from webapp.notices.batch import EVENT, MEDIA_TYPES, RENDERERS, generate
from webapp.notices.content import Lender
from webapp.records import RecordError
from webapp.web import auth, context
from webapp.web.problems import problem

bp = Blueprint("notices", __name__)
APPLICANTS = "applicants.json"


def _owner() -> str | None:
    return None if auth.can_see_all() else (auth.current_actor() or "")


def _notices(batch_id: str, fmt: str, applicants=None) -> Response:
    """The notices' bytes as a download, once their generation is recorded as an event."""
    config = current_app.config
    with auth.database().session() as session:
        generated = generate(session, batch_id, fmt, Lender.from_config(config), config["NOTICE_STYLE"],
                             owner=_owner(), applicants=applicants, response_days=config["NOTICE_RESPONSE_DAYS"],
                             store=context.records_store())
        accounts.record(session, auth.current_actor() or "anonymous", EVENT, generated.event_detail(),
                        auth.client_address())
    response = Response(generated.data, content_type=MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="notices-{batch_id}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"  # names, reasons: nothing for a shared cache
    response.headers["X-Notices"] = str(generated.notices)
    response.headers["X-Content-SHA256"] = generated.sha256
    return response


def _format_or_404(fmt: str) -> None:
    if fmt not in RENDERERS:
        abort(404)


@bp.get("/api/v1/batches/<batch_id>/notices.<fmt>")
def batch_notices(batch_id: str, fmt: str):
    if fmt not in RENDERERS:
        return problem(404, "Not Found", "Notices come as notices.pdf, notices.zip or notices.csv.", "not-found")
    try:
        return _notices(batch_id, fmt)
    except RecordError as exc:
        return problem(exc.status, HTTP_STATUS_CODES[exc.status], str(exc), exc.code)


@bp.get("/batches/<batch_id>/notices.<fmt>")
def batch_notices_page(batch_id: str, fmt: str):
    _format_or_404(fmt)
    try:
        return _notices(batch_id, fmt)
    except RecordError as exc:
        abort(exc.status, description=str(exc))


@bp.get("/results/<token>/notices.<fmt>")
def result_notices(token: str, fmt: str):
    from webapp.web.ui import _result_or_abort  # one owner check for every view of a result

    _format_or_404(fmt)
    result = _result_or_abort(token)
    batch_id = (result.meta.get("summary") or {}).get("batch_id")
    if not batch_id:
        abort(404, description="These results were not recorded, so they have no notices.")
    applicants = applicant_file.loads(context.results().attached(result, APPLICANTS))
    try:
        return _notices(batch_id, fmt, applicants or None)
    except RecordError as exc:
        abort(exc.status, description=str(exc))


def keep_applicants(token: str, source, sheet: str | None) -> None:
    """At scoring time (the upload page): keep the input's names and addresses beside the result,
    if it has any, for the results page's notices. Best effort: without them notices are blank-addressed."""
    from webapp.core.errors import InputError
    from webapp.storage import StorageFault

    try:
        found = applicant_file.applicants_in(source, sheet=sheet, limits=context.limits())
        if found:
            context.results().attach(token, APPLICANTS, applicant_file.dumps(found))
    except (InputError, StorageFault, OSError) as exc:
        current_app.logger.warning("applicants not kept for the notices (%s)", type(exc).__name__)


def openapi_paths() -> dict:
    """These routes in the OpenAPI document (merged by `webapp.web.openapi`)."""
    problem_json = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    fmt = {"name": "fmt", "in": "path", "required": True, "schema": {"type": "string", "enum": list(RENDERERS)},
           "description": "pdf: every notice, each on a new page; zip: <Loan_ID>.pdf each; csv: for a mail merge"}
    binary = {"schema": {"type": "string", "format": "binary"}}
    content = {"application/pdf": binary, "application/zip": binary, "text/csv": {"schema": {"type": "string"}}}
    html = {"text/html": {"schema": {"type": "string"}}}

    def operation(op, summary, parameters, errors, api=True):
        return {"get": {"operationId": op, "summary": summary, "tags": ["notices"] if api else ["pages"],
                        "parameters": [*parameters, fmt],
                        "responses": {"200": {"description": "The notices (one per declined or incomplete "
                                                             "application); X-Notices: how many", "content": content},
                                      **{str(code): {"description": d, "content": problem_json if api else html}
                                         for code, d in errors.items()}}}}

    batch_id = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}
    token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
    errors = {404: "Unknown batch, or another analyst's", 409: "An analysis batch: no notices",
              410: "Purged (retention)"}
    return {
        "/api/v1/batches/{batch_id}/notices.{fmt}": operation(
            "batch_notices", "Adverse-action notices of a recorded decision batch (blank address block)",
            [batch_id], errors),
        "/batches/{batch_id}/notices.{fmt}": operation("batch_notices_page", "The batch page's notices",
                                                       [batch_id], errors, api=False),
        "/results/{token}/notices.{fmt}": operation(
            "result_notices", "The results page's notices, addressed while the result lives", [token],
            {404: "No such result, or not recorded", 410: "Expired"}, api=False),
    }
