"""Serving from the registry: a promotion is answered by the next request (and by another app on the
same database within the TTL), every answer comes from one version even while a version is promoted,
a rollback serves the previous champion, the last champion read keeps serving when the registry
cannot be read, and a version serves only as it was registered (artifact and card)."""
from __future__ import annotations

import io
import threading
import time

import numpy as np
import pandas as pd
import pytest

from tests.conftest import signed_in_client
from tests.factories import applications
from tests.registry.apps import registry_app
from webapp.model.loading import load_model

ADA, BO = "ada@bank.example", "bo@bank.example"


@pytest.fixture
def app(model_path, tmp_path, database_url):
    app = registry_app(model_path, tmp_path, database_url)
    app.config["WTF_CSRF_ENABLED"] = False  # the upload page, posted without its form token
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def approved(app, other_model_path) -> str:
    """The other tiny model, registered by one model admin and approved by another."""
    registry = app.extensions["model_registry"]
    version = registry.register(other_model_path, by=ADA)["version"]
    registry.approve(version, by=BO, note="validated")
    return version


@pytest.fixture
def no_ttl(monkeypatch):
    monkeypatch.setattr("webapp.registry.services.GENERATION_TTL", 0.0)


CSV = applications(30, seed=3).to_csv(index=False).encode()


def scored(client) -> tuple[str, pd.DataFrame]:
    response = client.post("/api/v1/score", data=CSV, content_type="text/csv")
    assert response.status_code == 200, response.data[:300]
    return response.headers["X-Model-Version"], pd.read_csv(io.BytesIO(response.data))


def expected_probabilities(path) -> np.ndarray:
    from webapp.service import ScoringOptions, score_input

    answer = score_input(CSV, load_model(path), ScoringOptions(format="csv"))
    with answer.file:
        return pd.read_csv(answer.file)["Approval_Probability"].to_numpy()


def test_the_next_request_is_answered_by_a_promoted_champion(app, approved, model_path, no_ttl):
    client = signed_in_client(app)
    first, _ = scored(client)
    assert first == load_model(model_path).version
    app.extensions["model_registry"].promote(approved, by=ADA, note="better calibrated")
    assert scored(client)[0] == approved
    assert client.get("/healthz").json["model"]["version"] == approved


def test_another_app_on_the_same_database_serves_the_promotion_within_the_ttl(app, approved, model_path, tmp_path,
                                                                             database_url):
    (tmp_path / "second").mkdir()
    other = registry_app(model_path, tmp_path / "second", database_url)
    other.config["MODEL_STORE"] = app.config["MODEL_STORE"]
    other.extensions["model_registry"].store = app.extensions["model_registry"].store
    try:
        client = signed_in_client(other)
        assert scored(client)[0] != approved
        app.extensions["model_registry"].promote(approved, by=ADA, note="better calibrated")
        promoted = time.monotonic()
        while scored(client)[0] != approved:
            assert time.monotonic() - promoted < 5, "not served within 5 s"
            time.sleep(0.1)
    finally:
        other.extensions["database"].dispose()


def test_rollback_serves_the_previous_champion(app, approved, model_path, no_ttl):
    client = signed_in_client(app)
    shipped = scored(client)[0]
    registry = app.extensions["model_registry"]
    registry.promote(approved, by=ADA, note="better calibrated")
    assert scored(client)[0] == approved
    registry.rollback(by=BO, note="approvals fell")
    version, frame = scored(client)
    assert version == shipped
    np.testing.assert_allclose(frame["Approval_Probability"], expected_probabilities(model_path))


def test_under_load_while_promoting_every_answer_comes_from_one_version(app, approved, model_path,
                                                                      other_model_path):
    """4 threads × 25 requests; a promotion and a rollback in the middle. Each answer's probabilities
    are exactly those of the version its X-Model-Version names."""
    expected = {load_model(model_path).version: expected_probabilities(model_path),
                approved: expected_probabilities(other_model_path)}
    assert not np.allclose(*expected.values())  # two models that tell apart
    clients = [signed_in_client(app, f"load{i}@bank.example") for i in range(4)]
    answers, errors = [], []

    def work(client):
        try:
            for _ in range(25):
                answers.append(scored(client))
                time.sleep(0.05)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    registry = app.extensions["model_registry"]
    time.sleep(0.8)
    registry.promote(approved, by=ADA, note="under load")
    time.sleep(1.5)
    registry.rollback(by=BO, note="under load, back")
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(answers) == 100
    for version, frame in answers:
        np.testing.assert_array_equal(frame["Approval_Probability"].to_numpy(), expected[version])
    assert {version for version, _ in answers} == set(expected)  # both versions answered


def _registry_down(monkeypatch, registry):
    def down(*args, **kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(registry, "generation", down)


def test_the_champion_last_read_keeps_serving_while_the_registry_cannot_be_read(app, model_path, monkeypatch):
    client = signed_in_client(app)
    assert client.get("/healthz").json["serving"]["source"] == "registry"  # the champion, read once
    _registry_down(monkeypatch, app.extensions["model_registry"])
    app.extensions["models"]._retry_at = 0.0
    health = client.get("/healthz").json
    assert health["status"] == "ok" and health["model"]["version"] == load_model(model_path).version
    assert health["serving"]["source"] == "registry" and "ConnectionError" in health["serving"]["registry"]


def test_a_process_that_never_read_the_registry_serves_nothing_until_it_can(app, monkeypatch):
    """The shipped file may be a candidate, or a retired version: it never answers in the registry's place."""
    from webapp.service import ModelProvider

    _registry_down(monkeypatch, app.extensions["model_registry"])
    fresh = ModelProvider.load(app.config["MODEL_PATH"], registry=app.extensions["model_registry"])
    monkeypatch.setitem(app.extensions, "models", fresh)
    client = signed_in_client(app)
    health = client.get("/healthz")
    assert health.status_code == 503 and "ConnectionError" in health.json["detail"]
    refused = client.post("/api/v1/score", data=CSV, content_type="text/csv")
    assert refused.status_code == 503 and refused.mimetype == "application/problem+json"


def test_a_registry_that_names_no_champion_serves_nothing(app):
    from webapp.registry.models import Alias

    registry = app.extensions["model_registry"]
    with app.extensions["database"].session() as s:
        s.delete(s.get(Alias, "champion"))
        registry._bump(s)
    health = signed_in_client(app).get("/healthz")
    assert health.status_code == 503 and "names no champion" in health.json["detail"]


def test_a_shipped_file_whose_card_was_edited_never_stands_in_for_its_version(app, model_path, tmp_path):
    """The same artifact with another threshold in its card is not the version the registry approved."""
    import json
    import shutil

    from webapp.model.loading import card_path
    from webapp.service import ModelProvider

    edited = tmp_path / "edited" / model_path.name
    edited.parent.mkdir()
    shutil.copy(model_path, edited)
    card = json.loads(card_path(model_path).read_text())
    card["threshold"] = 0.99
    card_path(edited).write_text(json.dumps(card))
    registry = app.extensions["model_registry"]
    registry._loaded.clear()  # a new process: nothing loaded yet
    provider = ModelProvider.load(edited, registry=registry)
    assert provider.current().version == card["version"]
    assert provider.current().threshold == load_model(model_path).threshold != 0.99  # the store's copy


def test_an_edited_card_in_the_store_stops_its_version_from_loading(app, model_path):
    import json

    from webapp.model.loading import ModelLoadError, card_path
    from webapp.registry.models import ModelVersion

    registry = app.extensions["model_registry"]
    version = load_model(model_path).version
    with app.extensions["database"].session() as s:
        location = s.query(ModelVersion).filter_by(version=version).one().location
    stored_card = card_path(registry.store.local_path(location))
    card = json.loads(stored_card.read_text())
    stored_card.write_text(json.dumps({**card, "threshold": 0.99}))
    registry._loaded.clear()
    with pytest.raises(ModelLoadError, match="differs from the card registered"):
        registry.load(version)


def test_a_request_and_a_second_app_load_each_version_once(app, approved, no_ttl, monkeypatch):
    registry = app.extensions["model_registry"]
    loads = []
    real = registry._load
    monkeypatch.setattr(registry, "_load", lambda v: loads.append(v) or real(v))
    client = signed_in_client(app)
    registry.promote(approved, by=ADA, note="once")
    for _ in range(3):
        assert scored(client)[0] == approved
    assert loads == [approved]


def test_a_challenger_leaves_the_api_answer_byte_identical_and_the_page_shows_it(app, approved, no_ttl):
    client = signed_in_client(app)
    before = client.post("/api/v1/score", data=CSV, content_type="text/csv")
    app.extensions["model_registry"].set_challenger(approved, by=ADA, note="shadow")
    after = client.post("/api/v1/score", data=CSV, content_type="text/csv")
    assert after.data == before.data
    assert after.headers["X-Model-Version"] == before.headers["X-Model-Version"] != approved
    body = client.post("/api/v1/score", data=CSV, content_type="text/csv", headers={"Accept": "application/json"})
    assert body.json["summary"]["challenger"]["version"] == approved
    upload = client.post("/", data={"file": (io.BytesIO(CSV), "applicants.csv")}, content_type="multipart/form-data")
    assert upload.status_code == 303, upload.data[:300]
    page = client.get(upload.headers["Location"])
    assert b"The challenger, in shadow" in page.data and approved.encode() in page.data


def test_the_model_page_shows_versions_their_reports_and_the_alias_history(app, approved):
    app.extensions["model_registry"].promote(approved, by=ADA, note="better calibrated")
    page = signed_in_client(app).get("/model")
    assert page.status_code == 200
    text = page.data.decode()
    assert "Versions" in text and approved in text and "Validation report of" in text
    assert "Alias history" in text and "better calibrated" in text and "champion" in text
