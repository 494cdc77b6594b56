import pytest

from webapp import create_app


def test_healthz_reports_the_loaded_model(client, loaded_model):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "model": {"name": "loan-approval", "version": loaded_model.version},
                             "serving": {"source": "registry"}}


def test_healthz_is_503_without_a_model(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "MODEL_PATH": str(tmp_path / "none.joblib"),
                      "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and "No model" in response.json["detail"]


def test_readyz_checks_model_and_uploads_folder(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["uploads_writable"] is True


def broken_card_model(tmp_path, model_path, change):
    """A copy of the test model whose card `change` rewrote (its digest still matches)."""
    import json
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(model_path, folder / model_path.name)
    card = json.loads(model_path.with_suffix(".json").read_text())
    (folder / model_path.name).with_suffix(".json").write_text(json.dumps(change(card)))
    return folder / model_path.name


@pytest.mark.parametrize("change", [
    lambda card: [card],
    lambda card: {k: v for k, v in card.items() if k != "features"},
    lambda card: {**card, "features": {"Gender": "category"}},
    lambda card: {**card, "features": [{**f, "allowed": None} for f in card["features"]]},
    lambda card: {**card, "features": [{"name": "Nothing", "kind": "number"}]},
    lambda card: {**card, "threshold": "high"},
], ids=["a-list", "no-features", "features-a-dict", "no-allowed-values", "features-not-the-models", "threshold-text"])
def test_a_card_of_the_wrong_shape_is_a_503_with_the_reason_not_a_crash(tmp_path, model_path, change):
    path = broken_card_model(tmp_path, model_path, change)
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "MODEL_PATH": str(path), "UPLOAD_FOLDER": str(tmp_path),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}", "MODEL_STORE": str(tmp_path / "store")})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and "card" in response.json["detail"]
    assert str(tmp_path) not in response.json["detail"] and path.with_suffix(".json").name in response.json["detail"]


def test_healthz_names_the_missing_file_without_its_folder(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "MODEL_PATH": str(tmp_path / "none.joblib"),
                      "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}"})
    detail = app.test_client().get("/healthz").json["detail"]
    assert "none.joblib" in detail and str(tmp_path) not in detail
