"""/api/v1/models: versions and history for anyone who may read, the changes for model admins,
refusals as problem+json."""
from __future__ import annotations

import pytest

from tests.registry.apps import registry_app
from webapp.model.loading import checked_card

ADA, BO = "ada@bank.example", "bo@bank.example"


@pytest.fixture
def app(model_path, tmp_path, database_url):
    app = registry_app(model_path, tmp_path, database_url)
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def candidate(app, forest_model_path):
    return app.extensions["model_registry"].register(forest_model_path, ADA)["version"]


KEYS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def accounts(app):
    """The registry's test people as real accounts, each with an API key (acting = the key's owner)."""
    from tests.registry.apps import ROLES
    from webapp.accounts import services

    with app.extensions["database"].session() as session:
        for email, role in ROLES.items():
            services.create_user(session, email, role)
            KEYS[email] = services.create_key(session, email, "tests", actor="tests")[0]
    del app.extensions["role_of"]  # the accounts' own answer, not the test table
    from webapp import _role_of
    import functools
    app.extensions["role_of"] = functools.partial(_role_of, app.extensions["database"])


def as_user(email):
    return {"Authorization": f"Bearer {KEYS[email]}"}


def test_the_listing_has_versions_aliases_and_history(client, model_path):
    body = client.get("/api/v1/models").json
    shipped = checked_card(model_path)["version"]
    assert [v["version"] for v in body["versions"]] == [shipped]
    assert body["aliases"] == {"champion": shipped, "challenger": None}
    assert body["history"][0]["to"] == shipped


def test_approve_then_promote_then_roll_back(client, candidate, model_path):
    approved = client.post(f"/api/v1/models/{candidate}/approve", json={"note": "reviewed"}, headers=as_user(BO))
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    promoted = client.post(f"/api/v1/models/{candidate}/promote", json={"note": "go"}, headers=as_user(BO))
    assert promoted.json["aliases"] == ["champion"]
    back = client.post("/api/v1/models/rollback", json={"note": "back"}, headers=as_user(ADA))
    assert back.json["version"] == checked_card(model_path)["version"]
    assert [h["action"] for h in client.get("/api/v1/models").json["history"]] == ["first", "promote", "rollback"]


def test_the_challenger_is_set_and_cleared(client, candidate):
    client.post(f"/api/v1/models/{candidate}/approve", json={"note": "reviewed"}, headers=as_user(BO))
    assert client.post("/api/v1/models/challenger", json={"version": candidate}, headers=as_user(BO)).status_code == 200
    assert client.get("/api/v1/models").json["aliases"]["challenger"] == candidate
    cleared = client.post("/api/v1/models/challenger", json={"version": None, "note": "done"}, headers=as_user(BO))
    assert cleared.json == {"challenger": None}


@pytest.mark.parametrize("who, body, status, code", [
    (ADA, {"note": "mine"}, 403, "four-eyes"),
    # An analyst is refused by the permission table, a caller without a key before it.
    ("clerk@bank.example", {"note": "x"}, 403, "forbidden"),
    (None, {"note": "x"}, 401, "unauthorized"),
    (BO, {}, 400, "note-required"),
])
def test_refusals_are_problem_json(app, client, candidate, who, body, status, code):
    client = client if who else app.test_client()
    response = client.post(f"/api/v1/models/{candidate}/approve", json=body, headers=as_user(who) if who else {})
    assert response.status_code == status
    assert response.mimetype == "application/problem+json" and response.json["code"] == code


def test_an_unknown_version_is_404(client):
    response = client.post("/api/v1/models/nope/promote", json={"note": "x"}, headers=as_user(BO))
    assert response.status_code == 404 and response.json["code"] == "model-version-not-found"


def test_promoting_a_candidate_is_refused(client, candidate):
    response = client.post(f"/api/v1/models/{candidate}/promote", json={"note": "x"}, headers=as_user(BO))
    assert response.status_code == 409 and response.json["code"] == "not-approved"


def test_every_route_here_is_in_the_fragment_for_the_openapi_document(app):
    import re

    from webapp.web.models import openapi_paths

    paths = openapi_paths()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("models."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            assert {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}} <= set(paths[path])
