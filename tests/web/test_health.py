from webapp import create_app


def test_healthz_reports_the_loaded_model(client, loaded_model):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "model": {"name": "loan-approval", "version": loaded_model.version}}


def test_healthz_is_503_without_a_model(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "MODEL_PATH": str(tmp_path / "none.joblib"),
                      "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and "No model" in response.json["detail"]


def test_readyz_checks_model_and_uploads_folder(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["uploads_writable"] is True
