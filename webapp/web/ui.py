"""The upload page, the results page and the model page: a thin layer over batch scoring."""
from __future__ import annotations

import logging
from pathlib import Path, PurePath

import pandas as pd
from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_file,
                   url_for)
from werkzeug.utils import secure_filename

from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.web import charts, problems
from webapp.core.errors import EmptyInput, InputError
from webapp.core.reasons import REASON_COLUMNS, REASONS
from webapp.web.forms import ALLOWED_EXTENSIONS, UploadForm
from webapp.core.limits import Limits
from webapp.web.observability import record_summary
from webapp.core.scoring import score
from webapp.web.storage import ResultExpired, ResultNotFound, ResultStore
from webapp.core.writing import FORMATS, write_csv, write_xlsx

bp = Blueprint("ui", __name__)
log = logging.getLogger(__name__)


def store() -> ResultStore:
    return ResultStore(current_app.config["UPLOAD_FOLDER"], current_app.config["RESULT_TTL_SECONDS"])


def model_or_none():
    return current_app.extensions.get("loan_model")


@bp.route("/", methods=["GET", "POST"])
def index():
    form = UploadForm()
    if not form.validate_on_submit():
        if request.method == "POST":
            return _form_error(form, _first_form_error(form))
        return render_template("index.html", form=form, model=model_or_none(), extensions=ALLOWED_EXTENSIONS)
    model = model_or_none()
    if model is None:
        return _form_error(form, "The model is not loaded, so nothing can be scored right now.", status=503)
    upload = form.file.data
    try:
        token = _score_and_store(upload, model, form)
    except InputError as error:
        return _form_error(form, error.message, status=error.status)
    finally:
        upload.stream.close()  # the raw upload is gone as soon as it is scored
    target = url_for("ui.results", token=token)
    if _wants_json():
        return jsonify({"redirect": target})
    return redirect(target, code=303)


def _score_and_store(upload, model, form) -> str:
    upload.stream.seek(0, 2)
    if upload.stream.tell() == 0:
        raise EmptyInput("The file is empty.")
    upload.stream.seek(0)
    results = store()
    results.purge()
    scoring = score(upload.stream, model, sheet=form.sheet.data or None, include_input=form.include_input.data,
                    limits=Limits.from_config(current_app.config), explain="reasons" if form.explain.data else None)

    def write(out) -> dict:
        write_csv(scoring, out)
        s = scoring.summary
        record_summary(s)
        return {**s.to_dict(), "probability_histogram": s.probability_histogram,
                "first_failures": s.first_failures, "input_format": s.input_format}

    name = PurePath(upload.filename or "upload").name[:200]
    return results.create(write, {"filename": name, "model_version": model.version, "threshold": model.threshold,
                                  "model_cv": model.card.get("cv")})


def _form_error(form, message: str, status: int = 400):
    log.info("upload refused: %s", message.split(".")[0][:120])
    if _wants_json():
        return jsonify({"error": message}), status
    return render_template("index.html", form=form, model=model_or_none(), error=message,
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
    return _form_error(UploadForm(formdata=None), "The form had expired. Choose the file again and resubmit.", status=400)


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(error):
    if request.blueprint != "ui" or request.endpoint != "ui.index":
        return problems.handle_http_error(error)
    limit = problems.size_text(current_app.config["MAX_CONTENT_LENGTH"])
    return _form_error(UploadForm(formdata=None), f"The file is larger than {limit}, the most this service accepts. "
                                     "Split it into smaller files.", status=413)


@bp.get("/results/<token>")
def results(token: str):
    result = _result_or_abort(token)
    meta, summary = result.meta, result.meta["summary"]
    preview = pd.read_csv(result.csv_path, dtype=str, keep_default_na=False, nrows=current_app.config["PREVIEW_ROWS"])
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
    path = result.csv_path if fmt == "csv" else store().xlsx_path(result, _csv_to_xlsx)
    response = send_file(path, mimetype=FORMATS[fmt], max_age=0)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}-predictions.{fmt}"'
    return response


def _csv_to_xlsx(csv_path: Path, out) -> None:
    """The stored CSV as Excel, chunk by chunk (write_xlsx refuses what a sheet cannot hold)."""

    def chunks():
        with pd.read_csv(csv_path, dtype=str, keep_default_na=False, chunksize=100_000) as reader:
            for frame in reader:
                frame["Approval_Probability"] = pd.to_numeric(frame["Approval_Probability"], errors="coerce")
                yield frame

    write_xlsx(chunks(), out)


def _result_or_abort(token: str):
    try:
        return store().get(token)
    except ResultExpired:
        abort(410, description="These results have expired and were deleted. Upload the file again to score it.")
    except ResultNotFound:
        abort(404, description="There are no results at this address.")


@bp.get("/model")
def model_page():
    model = model_or_none()
    if model is None:
        abort(503, description=current_app.extensions.get("loan_model_error") or "No model is loaded.")
    return render_template("model.html", card=model.card)
