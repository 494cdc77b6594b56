"""The OpenAPI 3.1 document, built from the model card's input contract, and the docs page."""
from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory

from webapp.core.contract import ID_COLUMN
from webapp.core.errors import InputError
from webapp.core.reasons import reason_table
from webapp.core.writing import FORMATS
from webapp.web import context
from webapp.web import auth_openapi, models
from webapp.web import notices as notices_web
from webapp.web import records as records_web
from webapp.web.api import FILE_TYPES

bp = Blueprint("docs", __name__)

PROBLEM = {"$ref": "#/components/responses/Problem"}


@bp.get("/openapi.json")
def openapi_json():
    model = context.model_or_none()
    return build_spec(model.card if model else None)


@bp.get("/docs")
def docs_page():
    return send_from_directory(current_app.static_folder, "docs.html")


def application_schema(card: dict | None) -> dict:
    properties = {ID_COLUMN: {"type": "string", "minLength": 1, "description": "Your identifier for the application"}}
    for feature in (card or {}).get("features", []):
        schema = {"description": feature["description"], "examples": [feature["example"]]}
        if feature["kind"] == "category":
            schema.update(type=["string", "null"], enum=[*feature["allowed"], None],
                          description=f"{feature['description']}. One of {', '.join(feature['allowed'])} "
                                      "(case-insensitive).")
        elif feature["kind"] == "flag":
            schema.update(type=["integer", "null"], enum=[0, 1, None])
        else:
            schema.update(type=["number", "null"], minimum=0)
            if feature.get("maximum") is not None:
                schema["maximum"] = feature["maximum"]
        decides = feature.get("decides", True)
        role = ("Decides: required in a file." if decides else
                "Monitored only, optional: never seen by the model, never fails a row; used for the parity "
                "report.")
        schema["description"] = f"{schema['description']} {role} {feature.get('why', '')}".strip()
        schema["x-decides"], schema["x-monitored"] = decides, feature.get("monitored", False)
        properties[feature["name"]] = schema
    required = [ID_COLUMN, *(f["name"] for f in (card or {}).get("features", []) if f.get("decides", True))]
    return {"type": "object", "required": required,
            "properties": properties, "additionalProperties": True,
            "description": "One loan application. Every column that decides (x-decides) must be present (a file "
                           "without one is refused whole); a missing value (null or empty) is imputed by the model. "
                           "Gender, Married and Dependents are optional and monitored only: the model never sees "
                           "them."}


def problem_types() -> list[dict]:
    """Every problem the API answers with, for the docs page (each `type` links here)."""
    seen, types = set(), []

    def walk(cls):
        for sub in cls.__subclasses__():
            if sub.code not in seen:
                seen.add(sub.code)
                types.append({"code": sub.code, "status": sub.status, "title": sub.title})
            walk(sub)

    types.append({"code": InputError.code, "status": InputError.status, "title": InputError.title})
    seen.add(InputError.code)
    walk(InputError)
    return types


def page_paths() -> dict:
    """The pages for people, so that every route is described here (tagged `pages`: HTML, not API)."""
    html = {"text/html": {"schema": {"type": "string"}}}
    token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The 256-bit result token the upload redirected to"}

    def page(operation: str, summary: str, statuses: dict, parameters=()) -> dict:
        return {"operationId": operation, "summary": summary, "tags": ["pages"], "parameters": list(parameters),
                "responses": {str(code): {"description": text, "content": html} for code, text in statuses.items()}}

    return {
        "/": {"get": page("upload_page", "The upload page", {200: "The form"}),
              "post": {**page("upload", "Score an uploaded file (the form: CSRF token, file, options)",
                              {303: "Redirect to the results", 400: "The form with the error"}),
                       "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
                           "file": {"type": "string", "format": "binary"}, "sheet": {"type": "string"},
                           "explain": {"type": "string"}, "include_input": {"type": "string"},
                           "csrf_token": {"type": "string"}}}}}}}},
        "/results/{token}": {"get": page("results_page", "A file's results", {200: "Results", 404: "Unknown",
                                                                              410: "Expired"}, [token])},
        "/results/{token}/predictions.{fmt}": {"get": page(
            "results_download", "Download a file's results", {200: "CSV or Excel", 404: "Unknown", 410: "Expired"},
            [token, {"name": "fmt", "in": "path", "required": True, "schema": {"type": "string", "enum": ["csv", "xlsx"]}}])},
        "/model": {"get": page("model_page", "The model card", {200: "Model card", 503: "No model"})},
        "/docs": {"get": page("docs_page", "This reference, rendered", {200: "API reference"})},
    }


def build_spec(card: dict | None) -> dict:
    version = (card or {}).get("version", "unavailable")
    summary_schema = {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in ("rows", "scored", "failed", "approved")}
        | {"approval_rate": {"type": ["number", "null"]},
           "failures_by_reason": {"type": "object", "additionalProperties": {"type": "integer"}},
           "extra_columns": {"type": "array", "items": {"type": "string"}},
           "decline_reasons": {"type": "object", "additionalProperties": {"type": "integer"},
                               "description": "With explain: reason code -> declined applications citing it"},
           "drift": {"$ref": "#/components/schemas/Drift"},
           "evaluation": {"$ref": "#/components/schemas/Evaluation"},
           "fairness": {"type": "object", "description": "Approval parity per monitored attribute present in the "
                        "input (four-fifths screen over groups of at least 30 scored rows)",
                        "additionalProperties": {"$ref": "#/components/schemas/Parity"}}},
    }
    prediction = {
        "type": "object",
        "required": ["Loan_ID", "Loan_Status", "Approval_Probability", "Error"],
        "properties": {
            "Loan_ID": {"type": "string"},
            "Loan_Status": {"type": ["string", "null"], "enum": ["Y", "N", None]},
            "Approval_Probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "Error": {"type": ["string", "null"], "description": "Why the row has no prediction"},
            "contributions": {"type": ["object", "null"], "additionalProperties": {"type": "number"},
                              "description": "With explain: each decision feature's contribution to the log-odds "
                                             "of approval; base + their sum = log(p / (1 - p)). Null for failed rows."},
            "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"},
                        "description": "With explain: the principal reasons, most damaging first, at most 4; only "
                                       "features that lowered the score"},
        },
    }
    records = {"type": "array", "items": {"$ref": "#/components/schemas/Application"}}
    json_body = {"oneOf": [
        records,
        {"$ref": "#/components/schemas/Application"},
        {"type": "object", "required": ["records"], "properties": {"records": records}},
        {"type": "object", "required": ["dataframe_records"], "properties": {"dataframe_records": records}},
        {"type": "object", "required": ["dataframe_split"], "properties": {"dataframe_split": {
            "type": "object", "required": ["columns", "data"],
            "properties": {"columns": {"type": "array", "items": {"type": "string"}},
                           "data": {"type": "array", "items": {"type": "array"}}}}}},
        {"type": "string", "description": "A JSON document of one of the other shapes, encoded once more"},
    ]}
    file_answer = {"schema": {"type": "string", "format": "binary"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Loan batch scoring API",
            "version": "1.0.0",
            "summary": "Score files of loan applications with the loan-approval model.",
            "description": f"Model version {version}. Every input row comes back, in input order, with a "
                           "prediction or an error. Errors are RFC 9457 problem details.",
        },
        "paths": {
            "/api/v1/score": {"post": {
                "operationId": "score",
                "summary": "Score a CSV or spreadsheet file, or JSON records",
                "parameters": [
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": list(FORMATS)},
                     "description": "Answer format; default CSV for files, JSON for JSON input (or by Accept)."},
                    {"name": "on_error", "in": "query", "schema": {"type": "string", "enum": ["continue", "fail"]},
                     "description": "`fail`: any invalid row turns the whole answer into a 422."},
                    {"name": "include_input", "in": "query", "schema": {"type": "boolean"},
                     "description": "Append the input's other columns to each output row."},
                    {"name": "sheet", "in": "query", "schema": {"type": "string"},
                     "description": "Excel: the sheet to read (default: the first visible one)."},
                    {"name": "explain", "in": "query", "schema": {"type": "boolean"},
                     "description": "Principal reasons for every declined application (CSV/Excel: Reason_1 … "
                                    "Reason_4 and Reason_Codes after the four fixed columns; JSON: `reasons` and "
                                    "each feature's `contributions` in log-odds, relative to `model."
                                    "explanation_base`, the training population's average)."},
                    {"name": "reasons_for", "in": "query", "schema": {"type": "string", "enum": ["declined", "all"]},
                     "description": "With explain: give reasons for declined applications only (default) or for "
                                    "every scored one."},
                ],
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "CSV, Excel (.xlsx, .xlsm, .xlsb, .xls), OpenDocument .ods or Parquet"},
                        "sheet": {"type": "string"}}}},
                    "text/csv": {"schema": {"type": "string"}},
                    **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in FILE_TYPES},
                    "application/json": {"schema": json_body},
                }},
                "responses": {
                    "200": {"description": "Scored. CSV and Excel answers are attachments; the summary is in "
                                           "the X-Rows-* headers.",
                            "headers": {**{h: {"schema": {"type": "integer"}} for h in
                                           ("X-Rows-Total", "X-Rows-Scored", "X-Rows-Failed")},
                                        "X-Fairness-Flags": {"schema": {"type": "string"}, "description":
                                                             "Monitored attributes below four-fifths, or none"},
                                        "X-Drift-Flags": {"schema": {"type": "string"}, "description":
                                                          "Features with a major shift from the training data "
                                                          "(PSI above 0.25), or none"}},
                            "content": {"text/csv": file_answer, FORMATS["xlsx"]: file_answer,
                                        FORMATS["parquet"]: file_answer,
                                        "application/json": {"schema": {"$ref": "#/components/schemas/ScoreResult"}}}},
                    **{str(s): PROBLEM for s in (400, 401, 405, 413, 415, 422, 503)},
                },
            }},
            "/api/v1/model": {"get": {"operationId": "model", "summary": "The model card",
                                      "responses": {"200": {"description": "Name, version, metrics, input contract",
                                                            "content": {"application/json": {"schema": {"type": "object"}}}},
                                                    "503": PROBLEM}}},
            "/api/v1/template.csv": {"get": {"operationId": "template", "summary": "A CSV template to fill in",
                                             "responses": {"200": {"description": "Header and one example row",
                                                                   "content": {"text/csv": {"schema": {"type": "string"}}}}}}},
            "/healthz": {"get": {"operationId": "healthz", "summary": "Alive, with the model version",
                                 "responses": {"200": {"description": "Model loaded"}, "503": {"description": "No model"}}}},
            "/readyz": {"get": {"operationId": "readyz", "summary": "Ready: model loaded, uploads writable",
                                "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}}}},
            "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics of every worker, summed",
                                 "description": "Requests by route and status, latency, rows scored and failed, "
                                                "failures by reason, upload bytes, the model's version. With "
                                                "METRICS_TOKEN set, send it as a bearer token.",
                                 "responses": {"200": {"description": "Prometheus text exposition format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}},
                                               "401": PROBLEM}}},
            **page_paths(),
            **models.openapi_paths(),
            **auth_openapi.paths(),
            **records_web.openapi_paths(),
            **notices_web.openapi_paths(),
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI 3.1",
                                                            "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {
            "schemas": {
                "Application": application_schema(card),
                "Prediction": prediction,
                "ScoreResult": {"type": "object", "required": ["predictions", "summary", "model"], "properties": {
                    "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}},
                    "summary": summary_schema,
                    "model": {"type": "object", "properties": {
                        "name": {"type": "string"}, "version": {"type": "string"},
                        "explanation_base": {"type": ["number", "null"],
                                             "description": "With explain: the base log-odds contributions start from"},
                        "explanation_method": {"type": ["string", "null"]}}},
                }},
                "Reason": {"type": "object", "required": ["code", "feature", "text", "contribution"], "properties": {
                    "code": {"type": "string", "enum": [r["code"] for r in reason_table()]},
                    "feature": {"type": "string"}, "text": {"type": "string"},
                    "contribution": {"type": ["number", "null"]}}},
                "Drift": {"type": "object", "description": "Population Stability Index of each feature against "
                          "the training data; not judged under 100 scored rows", "properties": {
                    "rows": {"type": "integer"}, "judged": {"type": "boolean"}, "note": {"type": "string"},
                    "flagged": {"type": "array", "items": {"type": "string"}},
                    "features": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                        "psi": {"type": "number"}, "level": {"type": "string", "enum": ["none", "moderate", "major"]},
                        "bins": {"type": "array", "items": {"type": "string"}},
                        "expected": {"type": "array", "items": {"type": "number"}},
                        "actual": {"type": "array", "items": {"type": "number"}}}}}}},
                "Evaluation": {"type": "object", "description": "Only when the input carries the known outcome "
                               "(Loan_Status: Y/N, Yes/No, 1/0); approval is the positive class", "properties": {
                    "rows": {"type": "integer"}, "unlabelled": {"type": "integer"}, "note": {"type": "string"},
                    "accuracy": {"type": "number"}, "roc_auc": {"type": ["number", "null"]}, "brier": {"type": "number"},
                    "confusion": {"type": "object", "properties": {k: {"type": "integer"} for k in ("tp", "fp", "tn", "fn")}},
                    "predicted_approval_rate": {"type": "number"}, "actual_approval_rate": {"type": "number"},
                    "calibration": {"type": "array", "items": {"type": "object", "properties": {
                        "lower": {"type": "number"}, "upper": {"type": "number"}, "rows": {"type": "integer"},
                        "mean_predicted": {"type": ["number", "null"]},
                        "observed_rate": {"type": ["number", "null"]}}}}}},
                "Parity": {"type": "object", "required": ["groups", "adverse_impact_ratio", "flagged"], "properties": {
                    "groups": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                        "rows": {"type": "integer"}, "approved": {"type": "integer"},
                        "approval_rate": {"type": ["number", "null"]}}}},
                    "adverse_impact_ratio": {"type": ["number", "null"],
                                             "description": "Lowest approval rate over the highest among judged "
                                                            "groups; null when fewer than two are judged"},
                    "flagged": {"type": "boolean", "description": "The ratio is below 0.8"},
                    "judged_groups": {"type": "integer"}}},
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
                    "type": {"type": "string", "format": "uri-reference"}, "title": {"type": "string"},
                    "status": {"type": "integer"}, "detail": {"type": "string"}, "code": {"type": "string"},
                    "missing_columns": {"type": "array", "items": {"type": "string"}},
                    "found_columns": {"type": "array", "items": {"type": "string"}},
                    "expected_columns": {"type": "array", "items": {"type": "string"}},
                    "optional_columns": {"type": "array", "items": {"type": "string"}},
                }},
            },
            "responses": {"Problem": {"description": "RFC 9457 problem details",
                                      "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key (flask keys create, or the account page)"}},
        },
        "x-problem-types": problem_types(),
        "x-reasons": reason_table(),
    }
