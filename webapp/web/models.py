"""Model versions over HTTP for model admins, and the app's registry.

    GET  /api/v1/models                      versions (with validation reports), aliases and history
    POST /api/v1/models/<version>/approve    {"note": "..."}  (four eyes: not the one who registered it)
    POST /api/v1/models/<version>/promote    {"note": "..."}
    POST /api/v1/models/rollback             {"note": "..."}  back to the previous champion
    POST /api/v1/models/challenger           {"version": "..." | null, "note": "..."}

Views only read the body and call `ModelRegistry`; its refusals become problem+json. `init_app`
builds the registry (`app.extensions["model_registry"]`) and registers the shipped artifact on
first start.
"""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Blueprint, Flask, current_app, jsonify, request

from webapp.registry import ModelRegistry, ModelStore, RegistryError
from webapp.web import auth
from webapp.web.problems import problem

log = logging.getLogger(__name__)
bp = Blueprint("models", __name__, url_prefix="/api/v1/models")


def acting_user() -> str | None:
    """The signed-in account's email (the key's owner for an API call)."""
    return auth.current_actor()


def registry() -> ModelRegistry:
    return current_app.extensions["model_registry"]


@bp.errorhandler(RegistryError)
def registry_problem(error: RegistryError):
    return problem(error.status, error.title, error.message, error.code)


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _by() -> str:
    user = acting_user()
    if not user:
        raise RegistryError("Sign in as a model admin to manage model versions.", code="not-signed-in", status=401)
    return user


@bp.get("")
def list_models():
    r = registry()
    return jsonify({"versions": r.versions(), "aliases": r.aliases(), "history": r.history()})


@bp.post("/<version>/approve")
def approve(version):
    return jsonify(registry().approve(version, by=_by(), note=str(_body().get("note") or "")))


@bp.post("/<version>/promote")
def promote(version):
    return jsonify(registry().promote(version, by=_by(), note=str(_body().get("note") or "")))


@bp.post("/rollback")
def rollback():
    return jsonify(registry().rollback(by=_by(), note=str(_body().get("note") or "")))


@bp.post("/challenger")
def challenger():
    body = _body()
    version = body.get("version")
    if version is not None and not isinstance(version, str):
        raise RegistryError("'version' must be a version string, or null to clear the challenger.",
                            code="invalid-version", status=400)
    result = registry().set_challenger(version, by=_by(), note=str(body.get("note") or ""))
    return jsonify(result if result is not None else {"challenger": None})


def init_app(app: Flask) -> None:
    """Register the blueprint (header-authenticated, so exempt from CSRF), build the registry over the
    app's database and store, and register the shipped artifact if the registry lacks it."""
    app.register_blueprint(bp)
    if "csrf" in app.extensions:
        app.extensions["csrf"].exempt(bp)
    store = app.config.get("MODEL_STORE") or str(Path(app.instance_path) / "models")
    # role_of is looked up per call: the accounts package sets app.extensions["role_of"] when it starts.
    role_of = lambda email: (app.extensions.get("role_of") or (lambda _: None))(email)  # noqa: E731
    app.extensions["model_registry"] = model_registry = ModelRegistry(app.extensions["database"], ModelStore(store),
                                                                      role_of)
    try:
        model_registry.ensure_shipped(app.config["MODEL_PATH"])
    except RegistryError as exc:
        log.error("the shipped model was not registered: %s", exc.message)
    except Exception:  # noqa: BLE001 - e.g. `flask db upgrade` starting before the tables exist
        log.exception("the shipped model was not registered")


def openapi_paths() -> dict:
    """This blueprint's entries for /openapi.json (`openapi.build_spec` splices them into `paths`)."""
    problem_json = {"description": "Refused (problem+json)",
                    "content": {"application/problem+json": {"schema": {"type": "object"}}}}
    version_json = {"description": "The version after the change",
                    "content": {"application/json": {"schema": {"type": "object"}}}}
    note = {"content": {"application/json": {"schema": {"type": "object", "required": ["note"],
                                                        "properties": {"note": {"type": "string"}}}}}}
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "A model version, as in the model card (date and artifact hash prefix)"}
    refusals = {str(code): problem_json for code in (400, 401, 403, 404, 409)}

    def change(operation: str, summary: str, parameters=(), body=note) -> dict:
        return {"post": {"operationId": operation, "summary": summary, "tags": ["models"],
                         "parameters": list(parameters), "requestBody": body,
                         "responses": {"200": version_json, **refusals}}}

    challenger_body = {"content": {"application/json": {"schema": {"type": "object", "required": ["version"],
                       "properties": {"version": {"type": ["string", "null"]}, "note": {"type": "string"}}}}}}
    return {
        "/api/v1/models": {"get": {"operationId": "list_models", "tags": ["models"],
                                   "summary": "Model versions (with validation reports), aliases and alias history",
                                   "responses": {"200": {"description": "versions, aliases, history",
                                                         "content": {"application/json": {"schema": {
                                                             "type": "object"}}}}}}},
        "/api/v1/models/{version}/approve": change("approve_model", "Approve a candidate (a second model admin)",
                                                   [version]),
        "/api/v1/models/{version}/promote": change("promote_model", "Make an approved version the champion",
                                                   [version]),
        "/api/v1/models/rollback": change("rollback_model", "Make the previous champion the champion again"),
        "/api/v1/models/challenger": change("set_challenger", "Set (or clear, with null) the shadow challenger",
                                            body=challenger_body),
    }
