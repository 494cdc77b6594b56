import pytest


@pytest.mark.parametrize("path", ["/", "/model", "/healthz", "/api/v1/model", "/nowhere"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client):
    for path in ("/", "/model", "/docs"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>" not in page and "style=" not in page and "<style" not in page


def test_a_secret_key_is_generated_once_and_kept(tmp_path, model_path, monkeypatch):
    from webapp import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    config = {"MODEL_PATH": str(model_path), "UPLOAD_FOLDER": str(tmp_path), "SECRET_KEY": None,
              "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "MODEL_STORE": str(tmp_path / "models")}
    first = create_app(config)
    second = create_app(config)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] and len(first.config["SECRET_KEY"]) == 64
