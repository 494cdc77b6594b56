"""The upload page, the results page and the model page: a thin layer over batch scoring."""
from __future__ import annotations

import logging
from pathlib import PurePath

import pandas as pd
from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_file,
                   url_for)
from werkzeug.utils import secure_filename

from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.core.errors import EmptyInput, InputError, ServiceUnavailable, StorageUnavailable
from webapp.core.reasons import REASON_COLUMNS, REASONS
from webapp.core.writing import write_xlsx
from webapp.service import FORMATS, ScoringOptions, score_input, summary_headers
from webapp.storage import ResultExpired, ResultNotFound, StorageFault
from webapp.web import auth, charts, context, jobs, notices, problems
from webapp.web.forms import ALLOWED_EXTENSIONS, UploadForm
from webapp.web.observability import record_summary

bp = Blueprint("ui", __name__)
log = logging.getLogger(__name__)


@bp.route("/", methods=["GET", "POST"])
def index():
    form = UploadForm()
    if not form.validate_on_submit():
        if request.method == "POST":
            return _form_error(form, _first_form_error(form))
        return render_template("index.html", form=form, model=context.model_or_none(),
                               extensions=ALLOWED_EXTENSIONS)
    upload = form.file.data
    try:
        if jobs.is_large(upload):  # a large file is a job: its progress page, then the results
            target = jobs.submit_upload(upload, _options(form))
        else:
            target = url_for("ui.results", token=_score_and_store(upload, context.model(), form))
    except (InputError, ServiceUnavailable) as error:
        return _form_error(form, error.message, status=error.status, code=error.code)
    finally:
        upload.stream.close()  # the raw upload is gone as soon as it is scored (or kept by its job)
    if _wants_json():
        return jsonify({"redirect": target})
    return redirect(target, code=303)


def _score_and_store(upload, model, form) -> str:
    upload.stream.seek(0, 2)
    if upload.stream.tell() == 0:
        raise EmptyInput("The file is empty.")
    upload.stream.seek(0)
    results = context.results()
    results.purge_if_due()
    options = _options(form)

    name = PurePath(upload.filename or "upload").name[:200]

    def write(out) -> dict:
        recorder = context.recording("page", options, model, upload.stream, name)
        answer = score_input(upload.stream, model, options, limits=context.limits(), out=out, recorder=recorder,
                             challenger=context.challenger(model))
        record_summary(answer.summary)
        return answer.report

    try:
        token = results.create(write, {"filename": name, "model_version": model.version,
                                       "threshold": model.threshold, "model_cv": model.info.cv,
                                       "actor": auth.current_actor() or "anonymous"})
        notices.keep_applicants(token, upload.stream, options.sheet)  # names for the notices, 24 h, owner only
        return token
    except StorageFault as fault:
        raise StorageUnavailable(f"The result could not be stored: {fault}. Nothing was kept; try again "
                                 "later or tell the service's operators.") from None


def _options(form) -> ScoringOptions:
    return ScoringOptions(format="csv", explain=form.explain.data, include_input=form.include_input.data,
                          sheet=form.sheet.data or None, purpose=form.purpose.data)


def _form_error(form, message: str, status: int = 400, code: str = "invalid-form"):
    log.info("upload refused: %s", code)  # the code, never the message: a message may quote the input
    if _wants_json():
        return jsonify({"error": message}), status
    return render_template("index.html", form=form, model=context.model_or_none(), error=message,
                           extensions=ALLOWED_EXTENSIONS), status


def _first_form_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return "The form could not be read; try again."


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.app_errorhandler(CSRFError)
def csrf_failed(error):
    if request.blueprint != "ui":
        return problems.handle_http_error(error)
    return _form_error(UploadForm(formdata=None), "The form had expired. Choose the file again and resubmit.", status=400,
                       code="csrf-expired")


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(error):
    if request.blueprint != "ui" or request.endpoint != "ui.index":
        return problems.handle_http_error(error)
    limit = problems.size_text(current_app.config["MAX_CONTENT_LENGTH"])
    return _form_error(UploadForm(formdata=None), f"The file is larger than {limit}, the most this service accepts. "
                                     "Split it into smaller files.", status=413, code="too-large")


@bp.get("/results/<token>")
def results(token: str):
    result = _result_or_abort(token)
    meta, summary = result.meta, result.meta["summary"]
    with context.results().open(result) as stored:
        preview = pd.read_csv(stored, dtype=str, keep_default_na=False, nrows=current_app.config["PREVIEW_ROWS"])
    return render_template(
        "results.html", token=token, meta=meta, summary=summary, preview=preview,
        histogram=charts.probability_histogram(summary["probability_histogram"], meta["threshold"]),
        parity_charts={attribute: charts.approval_by_group(attribute, entry)
                       for attribute, entry in summary.get("fairness", {}).items()},
        reasons_chart=charts.decline_reasons(summary["decline_reasons"]) if summary.get("decline_reasons") else None,
        reason_columns=[c for c in REASON_COLUMNS if c in preview.columns],
        reason_texts={r.code: r.text for r in REASONS},
        reliability=charts.reliability(summary["evaluation"]["calibration"])
        if summary.get("evaluation", {}).get("calibration") else None,
        drift_charts={name: charts.drift_distribution(name, entry)
                      for name, entry in summary.get("drift", {}).get("features", {}).items()
                      if entry["level"] != "none"},
        expires_at=pd.Timestamp(meta["expires_at"], unit="s", tz="UTC"),
    )


@bp.get("/results/<token>/predictions.<fmt>")
def download(token: str, fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    result = _result_or_abort(token)
    stem = secure_filename(PurePath(result.meta["filename"]).stem)[:80] or "results"
    store = context.results()
    if fmt == "xlsx":
        store.derived(result, "xlsx", _csv_to_xlsx)
    response = send_file(store.sendable(result, fmt), mimetype=FORMATS[fmt], max_age=0)
    summary = result.meta["summary"]
    response.headers.update(summary_headers(summary, summary.get("batch_id")))  # as the API's answers carry
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}-predictions.{fmt}"'
    return response


def _csv_to_xlsx(csv_file, out) -> None:
    """The stored CSV as Excel, chunk by chunk (write_xlsx refuses what a sheet cannot hold)."""

    def chunks():
        with pd.read_csv(csv_file, dtype=str, keep_default_na=False, chunksize=100_000) as reader:
            for frame in reader:
                frame["Approval_Probability"] = pd.to_numeric(frame["Approval_Probability"], errors="coerce")
                yield frame

    write_xlsx(chunks(), out)


def _result_or_abort(token: str):
    """The stored result, if this person may see it: a link alone grants nothing — another
    analyst's result answers 404, as if it did not exist."""
    try:
        result = context.results().get(token)
        _must_be_theirs(result.meta.get("actor"))
        return result
    except ResultExpired as expired:
        _must_be_theirs(expired.actor)  # that another's result existed is not theirs to learn either
        abort(410, description="These results have expired and were deleted. Upload the file again to score it.")
    except ResultNotFound:
        abort(404, description="There are no results at this address.")


def _must_be_theirs(actor: str | None) -> None:
    if not auth.can_see_all() and (actor is None or actor != auth.current_actor()):
        abort(404, description="There are no results at this address.")


@bp.get("/model")
def model_page():
    model = context.model()
    versions, history = context.model_versions()
    return render_template("model.html", card=model.card, versions=versions, history=history)
