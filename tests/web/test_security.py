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


def test_a_response_keeps_a_security_header_it_sets_itself_and_carries_each_once(app, monkeypatch):
    from webapp.web import permissions

    @app.get("/_own-policy")
    def own_policy():
        return "", 200, {"X-Frame-Options": "SAMEORIGIN", "cache-control": "max-age=60"}

    monkeypatch.setitem(permissions.ENDPOINTS, "own_policy", permissions.PUBLIC)
    headers = app.test_client().get("/_own-policy").headers
    assert headers["X-Frame-Options"] == "SAMEORIGIN" and headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers.getlist("Cache-Control") == ["no-store"]  # answers carry applicant data: never cached
    assert headers["Referrer-Policy"] == "no-referrer"
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names))


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


def test_routing_redirects_are_relative_whatever_the_host(client):
    response = client.get("/results//x", headers={"Host": "evil.example"})
    assert response.status_code == 308 and response.headers["Location"] == "/results/x"


def test_behind_a_proxy_forwarded_hosts_do_not_reach_redirects(app):
    from webapp import create_app

    proxied = create_app({**app.config, "TRUST_PROXY": True}).test_client()
    response = proxied.get("/api/v1//model", headers={"X-Forwarded-Host": "evil.example"})
    assert response.headers["Location"] == "/api/v1/model"


def test_only_trusted_hosts_are_answered(app):
    from webapp import create_app

    client = create_app({**app.config, "TRUSTED_HOSTS": ["loans.example.com"]}).test_client()
    assert client.get("/healthz", headers={"Host": "loans.example.com"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 400


def test_the_session_cookie_is_samesite_lax_and_secure_over_https(app):
    from webapp import create_app

    proxied = create_app({**app.config, "TRUST_PROXY": True, "WTF_CSRF_ENABLED": True})
    plain = proxied.test_client().get("/login")  # the form's CSRF token goes in the session
    assert "SameSite=Lax" in plain.headers["Set-Cookie"] and "Secure" not in plain.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in plain.headers
    secure = proxied.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in secure.headers["Set-Cookie"] and "SameSite=Lax" in secure.headers["Set-Cookie"]
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_nul_characters_are_refused_before_they_reach_the_database(db_app):
    """PostgreSQL cannot store a NUL: a path, a query or a form value holding one is the caller's
    mistake (404 or 400), never a 500 — on either database."""
    from tests.conftest import signed_in_client

    client = signed_in_client(db_app, "auditor@bank.example", "auditor")
    assert client.get("/api/v1/jobs/a%00b").status_code == 404
    assert client.get("/api/v1/batches/a%00b").status_code == 404
    bad = client.get("/api/v1/batches?actor=a%00b")
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    signing_in = db_app.test_client().post("/login", data={"email": "a\x00@bank.example", "password": "x" * 12})
    assert signing_in.status_code in (200, 400)
