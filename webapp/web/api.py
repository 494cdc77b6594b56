"""The JSON/CSV API: `POST /api/v1/score` and what describes it. Views only read the request and
call the scoring service; errors become problem+json in `problems`."""
from __future__ import annotations

import csv
import functools
import io
import shutil
import tempfile
import time
from pathlib import PurePath

from flask import Blueprint, Response, current_app, request, send_file
from werkzeug.http import http_date
from werkzeug.utils import secure_filename

from webapp.core.contract import FEATURES, ID_COLUMN
from webapp.core.errors import InputError, UnsupportedFormat
from webapp.core.reasons import reason_policy, reason_table
from webapp.service import FORMATS, SPOOL_BYTES, ScoreQuery, score_input
from webapp.web import context, disconnect
from webapp.web.observability import record_summary

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.register_error_handler(disconnect.ClientGone, disconnect.client_gone)

CSV_TYPES = ("text/csv", "application/csv", "text/plain")
XLSX_TYPE = FORMATS["xlsx"]
# Raw bodies: the content still decides the format; the type only says "a file follows".
FILE_TYPES = (XLSX_TYPE, "application/vnd.ms-excel.sheet.macroEnabled.12",
                     "application/vnd.ms-excel.sheet.binary.macroEnabled.12", "application/vnd.ms-excel",
                     "application/vnd.oasis.opendocument.spreadsheet", "application/vnd.apache.parquet",
                     "application/octet-stream")
ACCEPTED_TYPES = ["multipart/form-data", *CSV_TYPES[:1], "application/json", *FILE_TYPES]




@bp.post("/score")
def score():
    source, name, json_input = _read_input()
    try:
        query = ScoreQuery.parse(request.args)
        options = query.options(_answer_format(query, json_input))
        model = context.model()
        recorder = context.recording("api", options, model, source, name)
        answer = score_input(source, model, options, limits=context.limits(), json_hint=json_input,
                             recorder=recorder, challenger=context.challenger(model), progress=disconnect.watch())
    finally:
        source.close()  # the raw upload never outlives the request
    record_summary(answer.summary)
    if options.format == "json":  # streamed to a spooled file as it was scored: memory holds one chunk
        response = _small_answer(answer.file, answer.headers)
        if response is None:
            response = send_file(answer.file, mimetype="application/json", max_age=0)
            response.headers.update(answer.headers)
        return response
    response = send_file(answer.file, mimetype=FORMATS[options.format], max_age=0)
    response.headers.update(answer.headers)
    # `name` went through secure_filename: plain ASCII, safe to quote as is.
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-predictions.{options.format}"'
    return response


SMALL_ANSWER_BYTES = 64 * 1024


def _small_answer(file, headers: dict):
    """A JSON answer of a few records as a plain response with `headers` (what send_file would
    send, without the file wrapper's work); None for a larger one, left at its start for send_file."""
    data = file.read(SMALL_ANSWER_BYTES + 1)
    if len(data) > SMALL_ANSWER_BYTES:
        file.seek(0)
        return None
    file.close()
    # Expires as send_file's max_age=0 says it (Cache-Control is no-store). Given as a list, the
    # headers are appended, not each set (a scan of the others) as `headers.update` does.
    return current_app.response_class(data, mimetype="application/json",
                                      headers=[("Expires", _http_date(int(time.time()))), *headers.items()])


@functools.lru_cache(maxsize=1)
def _http_date(second: int) -> str:
    return http_date(second)  # a date formatted once a second, not once a request


def _read_input():
    """The body as a seekable file, the input's name stem, and whether it is JSON."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise InputError("Send the file in the multipart form field 'file', e.g. "
                             "curl -F file=@applicants.csv …", code="no-file")
        return upload.stream, _stem(upload.filename), False
    if mimetype in CSV_TYPES or mimetype in FILE_TYPES or mimetype == "application/json":
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        try:
            shutil.copyfileobj(request.stream, body, 1 << 20)  # the stream enforces MAX_CONTENT_LENGTH
        except BaseException:
            body.close()
            raise
        body.seek(0)
        return body, "input", mimetype == "application/json"
    shown = f"'{mimetype}'" if mimetype else "no Content-Type"
    raise UnsupportedFormat(f"The request has {shown}. Send one of: {', '.join(ACCEPTED_TYPES)}.",
                            supported=ACCEPTED_TYPES)


def _answer_format(query: ScoreQuery, json_input: bool) -> str:
    if query.format:
        return query.format
    accept = request.accept_mimetypes
    if accept and any(m != "*/*" for m, _ in accept):
        by_type = {media: fmt for fmt, media in FORMATS.items()}
        best = accept.best_match(list(by_type), default=None)
        if best:
            return by_type[best]
    return "json" if json_input else "csv"


def _stem(filename: str | None) -> str:
    return secure_filename(PurePath(filename or "").stem)[:80] or "input"


@bp.get("/model")
def model_card():
    card = context.model().card
    keys = ("name", "version", "created_at", "scikit_learn_version", "training_data", "cv",
            "cv_with_protected_attributes", "estimator", "threshold", "positive_label", "id_column",
            "decision_features", "monitored_attributes", "features", "explanation")
    return {**{k: card[k] for k in keys if k in card}, "reasons": reason_table(), "reason_policy": reason_policy()}


@bp.get("/template.csv")
def template():
    """The header row and one example row, to fill in: the columns that decide first, then the
    optional monitored-only ones (Gender, Married, Dependents), which never change a decision."""
    ordered = sorted(FEATURES, key=lambda f: not f.decides)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([ID_COLUMN, *(f.name for f in ordered)])
    writer.writerow(["LP000001", *(f.example for f in ordered)])
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="loan-applications-template.csv"'})
