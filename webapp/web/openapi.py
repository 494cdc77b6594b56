"""The OpenAPI 3.1 document, built from the model card's input contract, and the docs page."""
from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory

from webapp.core.contract import ID_COLUMN
from webapp.core.errors import InputError, ServiceUnavailable
from webapp.core.reasons import reason_table
from webapp.core.writing import FORMATS
from webapp.service import ScoreQuery
from webapp.service.schemas import openapi_schemas, query_parameters
from webapp.web import context
from webapp.web import auth_openapi, models
from webapp.web import jobs as jobs_web
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

    for family in (InputError, ServiceUnavailable):
        types.append({"code": family.code, "status": family.status, "title": family.title})
        seen.add(family.code)
        walk(family)
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
                "description": "Every input row comes back, in input order, with a prediction or an error; "
                               "the batch is recorded in the decision record (X-Batch-Id).",
                "parameters": query_parameters(ScoreQuery),
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
                                                          "(PSI above 0.25), or none"},
                                        "X-Batch-Id": {"schema": {"type": "string"}, "description":
                                                       "The batch in the decision record"}},
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
            **jobs_web.openapi_paths(),
            **notices_web.openapi_paths(),
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                                      "responses": {"200": {"description": "OpenAPI 3.1",
                                                            "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {
            "schemas": {
                "Application": application_schema(card),
                **openapi_schemas(),
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
                    "type": {"type": "string", "format": "uri-reference"}, "title": {"type": "string"},
                    "status": {"type": "integer"}, "detail": {"type": "string"}, "code": {"type": "string"},
                    "missing_columns": {"type": "array", "items": {"type": "string"}},
                    "found_columns": {"type": "array", "items": {"type": "string"}},
                    "expected_columns": {"type": "array", "items": {"type": "string"}},
                    "optional_columns": {"type": "array", "items": {"type": "string"}},
                    "header_looks_like_data": {"type": "boolean", "description": "the first row holds numbers: "
                                               "it is an application, not a header (found_columns then lists "
                                               "only the columns recognised)"},
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
