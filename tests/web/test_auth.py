"""Signing in, the permission table, keys, the throttle, the setup link: the accounts as a user meets them."""
import re

import pytest

from tests.conftest import signed_in_client
from webapp import create_app
from webapp.accounts import services
from webapp.web.permissions import ENDPOINTS, KNOWN_PERMISSIONS, permission_for

PASSWORD = "violet-harbour-anvil-77"


def make_user(app, email="ann@bank.example", role="analyst", password=PASSWORD):
    with app.extensions["database"].session() as s:
        return services.create_user(s, email, role, password)


def sign_in(client, email="ann@bank.example", password=PASSWORD, **kwargs):
    return client.post("/login", data={"email": email, "password": password, **kwargs})


def test_every_route_declares_its_permission(app):
    missing = sorted({rule.endpoint for rule in app.url_map.iter_rules()} - set(ENDPOINTS))
    assert missing == []
    for needed in ENDPOINTS.values():
        assert set(needed.values() if isinstance(needed, dict) else [needed]) <= KNOWN_PERMISSIONS


@pytest.mark.parametrize("path", ["/", "/model", "/account", "/results/abc", "/results/abc/predictions.csv"])
def test_signed_out_people_are_sent_to_sign_in(anonymous_client, path):
    response = anonymous_client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/login", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics",
                                  "/static/style.css"])
def test_the_sign_in_page_docs_static_files_and_probes_stay_open(anonymous_client, path):
    assert anonymous_client.get(path).status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer lbs_unknown", "Basic Zm9vOmJhcg=="])
def test_the_api_answers_401_with_www_authenticate_without_a_live_key(anonymous_client, header):
    response = anonymous_client.get("/api/v1/model", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_is_refused_and_the_scheme_is_case_insensitive(app, anonymous_client):
    make_user(app)
    with app.extensions["database"].session() as s:
        key, _ = services.create_key(s, "ann@bank.example")
    assert anonymous_client.get("/api/v1/model", headers={"Authorization": f"bearer {key}"}).status_code == 200
    with app.extensions["database"].session() as s:
        services.revoke_key(s, key, actor="ann@bank.example")
    assert anonymous_client.get("/api/v1/model", headers={"Authorization": f"Bearer {key}"}).status_code == 401


# role x route: what each role gets from each route (404s for absent results come from the pages themselves)
MATRIX = [
    ("GET", "/", {"analyst": 200, "auditor": 200, "model_admin": 200, "admin": 200}),
    ("POST", "/", {"analyst": 400, "auditor": 403, "model_admin": 400, "admin": 400}),
    ("GET", "/model", {"analyst": 200, "auditor": 200, "model_admin": 200, "admin": 200}),
    ("GET", "/account", {"analyst": 200, "auditor": 200, "model_admin": 200, "admin": 200}),
    ("GET", "/api/v1/model", {"analyst": 200, "auditor": 200, "model_admin": 200, "admin": 200}),
    ("POST", "/api/v1/score", {"analyst": 415, "auditor": 403, "model_admin": 415, "admin": 415}),
    ("GET", "/api/v1/events", {"analyst": 403, "auditor": 200, "model_admin": 403, "admin": 200}),
]


@pytest.mark.parametrize("role", ["analyst", "auditor", "model_admin", "admin"])
def test_the_role_by_route_matrix(app, role):
    client = signed_in_client(app, f"{role}@bank.example", role)
    got = {(method, path): client.open(path, method=method).status_code for method, path, _ in MATRIX}
    assert got == {(method, path): expected[role] for method, path, expected in MATRIX}


def test_sign_in_redirects_303_to_where_the_person_was_going(app, anonymous_client):
    make_user(app)
    response = anonymous_client.post("/login?next=/model", data={"email": "ann@bank.example", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/model"
    assert anonymous_client.get("/model").status_code == 200


def test_sign_in_never_redirects_off_site(app, anonymous_client):
    make_user(app)
    response = anonymous_client.post("/login?next=//evil.example/", data={"email": "ann@bank.example",
                                                                          "password": PASSWORD})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0a/evil.example", "/ /evil.example", "/%7f/x",
                                    "/\\evil.example", "https://evil.example/"])
def test_sign_in_never_redirects_off_site_through_a_control_character(app, anonymous_client, target):
    make_user(app)
    response = anonymous_client.post(f"/login?next={target}", data={"email": "ann@bank.example",
                                                                    "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_a_password_change_signs_out_every_other_session(app):
    make_user(app)
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here)
    sign_in(elsewhere)
    changed = here.post("/account/password", data={"current": PASSWORD, "new": "quartz-meadow-lantern-42",
                                                        "confirm": "quartz-meadow-lantern-42"})
    assert changed.status_code == 303
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code in (302, 303)  # sent to sign in again


def test_guessing_the_current_password_is_throttled_like_signing_in(app):
    make_user(app)
    client = app.test_client()
    sign_in(client)
    guesses = [client.post("/account/password", data={"current": f"wrong-guess-{i}", "new": "quartz-meadow-lantern-42",
                                                       "confirm": "quartz-meadow-lantern-42"}).status_code
               for i in range(7)]
    assert guesses[:5] == [400] * 5 and guesses[-1] == 429
    right = client.post("/account/password", data={"current": PASSWORD, "new": "quartz-meadow-lantern-42",
                                                   "confirm": "quartz-meadow-lantern-42"})
    assert right.status_code == 429  # not even the right one, until the window passes


def test_an_account_without_a_password_is_never_given_one(app):
    from webapp.web.auth import sign_in as start_session

    with app.extensions["database"].session() as s:
        services.create_user(s, "sso@bank.example", "analyst")  # single sign-on only
    client = app.test_client()
    with app.test_request_context():
        with app.extensions["database"].session() as s:
            user = services.find_user(s, "sso@bank.example")
        start_session(user)
        from flask import session as cookie
        cookie_values = dict(cookie)
    with client.session_transaction() as browser:
        browser.update(cookie_values)
    answer = client.post("/account/password", data={"current": "", "new": "quartz-meadow-lantern-42",
                                                       "confirm": "quartz-meadow-lantern-42"})
    assert answer.status_code == 400 and b"single sign-on" in answer.data
    with app.extensions["database"].session() as s:
        assert services.find_user(s, "sso@bank.example").password_hash is None


def test_a_wrong_password_is_refused_with_one_message_and_recorded(app, anonymous_client):
    make_user(app)
    for email in ("ann@bank.example", "nobody@bank.example"):
        response = sign_in(anonymous_client, email, "not-the-password!")
        assert response.status_code == 200 and b"The email or password is not right." in response.data
    with app.extensions["database"].session() as s:
        failed = [e for e in services.events(s) if e["action"] == "sign_in_failed"]
    assert {e["actor"] for e in failed} == {"ann@bank.example", "nobody@bank.example"}


def test_the_session_id_changes_at_sign_in_and_cookies_are_httponly_and_lax(app, anonymous_client):
    make_user(app)
    anonymous_client.get("/login")
    with anonymous_client.session_transaction() as before:
        before["planted"] = "by an attacker"
    response = sign_in(anonymous_client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with anonymous_client.session_transaction() as first:
        first_id = first["_user_id"]
        assert "planted" not in first
    anonymous_client.post("/logout")
    sign_in(anonymous_client)
    with anonymous_client.session_transaction() as second:
        assert second["_user_id"] != first_id
    assert PASSWORD not in cookie


def test_sign_out_ends_the_session_on_the_server(app, anonymous_client):
    make_user(app)
    sign_in(anonymous_client)
    with anonymous_client.session_transaction() as cookie_session:
        stolen = dict(cookie_session)
    assert anonymous_client.post("/logout").status_code == 303
    with anonymous_client.session_transaction() as cookie_session:
        cookie_session.update(stolen)  # the old cookie, replayed
    assert anonymous_client.get("/model").status_code == 302


def test_an_idle_session_ends(app, anonymous_client):
    make_user(app)
    sign_in(anonymous_client)
    app.config["SESSION_IDLE_MINUTES"] = -1
    assert anonymous_client.get("/model").status_code == 302


def test_the_sixth_failure_within_15_minutes_answers_429_per_account(app, anonymous_client):
    make_user(app)
    statuses = [sign_in(anonymous_client, password="not-the-password!").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert sign_in(anonymous_client).status_code == 429  # even the right password, until the window passes


def test_the_throttle_counts_per_client_address_across_accounts(app, anonymous_client):
    statuses = [sign_in(anonymous_client, f"user{i}@bank.example", "not-the-password!").status_code for i in range(6)]
    assert statuses == [200] * 5 + [429]
    elsewhere = app.test_client().post("/login", data={"email": "user9@bank.example", "password": "x" * 12},
                                       environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 200  # another address, another account: not throttled


def test_the_throttle_shares_its_counts_in_redis(model_path, tmp_path):
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/9"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis is unreachable: {exc}")
    config = {"TESTING": True, "SECRET_KEY": "t", "MODEL_PATH": str(model_path), "WTF_CSRF_ENABLED": False,
              "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "REDIS_URL": url}
    first, second = create_app(config), create_app(config)  # two workers
    for _ in range(5):
        sign_in(first.test_client(), password="not-the-password!")
    assert sign_in(second.test_client(), password="not-the-password!").status_code == 429
    redis.Redis.from_url(url).flushdb()


def test_the_sign_in_form_needs_its_csrf_token(app):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(app)
    client = app.test_client()
    assert sign_in(client).status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert sign_in(client, csrf_token=token).status_code == 303


def test_first_start_prints_a_one_time_setup_link(model_path, tmp_path, capsys):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "MODEL_PATH": str(model_path), "WTF_CSRF_ENABLED": False,
                      "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"})
    token = re.search(r"/setup\?token=([\w-]+)", capsys.readouterr().err).group(1)
    client = app.test_client()
    assert client.get("/setup?token=guess").status_code == 404
    assert client.get(f"/setup?token={token}").status_code == 200
    response = client.post(f"/setup?token={token}", data={"email": "root@bank.example", "password": PASSWORD})
    assert response.status_code == 303 and client.get("/api/v1/events").status_code == 401  # API: keys only
    assert client.get("/account").status_code == 200
    assert app.test_client().get(f"/setup?token={token}").status_code == 404  # spent


def test_admin_email_and_password_create_the_first_admin(model_path, tmp_path, capsys):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "MODEL_PATH": str(model_path), "WTF_CSRF_ENABLED": False,
                      "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
                      "ADMIN_EMAIL": "root@bank.example", "ADMIN_PASSWORD": PASSWORD})
    assert "/setup" not in capsys.readouterr().err
    assert sign_in(app.test_client(), "root@bank.example").status_code == 303


def test_the_account_page_creates_and_revokes_ones_own_keys(app):
    client = signed_in_client(app, "ann@bank.example")
    page = client.post("/account/keys", data={"name": "laptop"}).get_data(as_text=True)
    key = re.search(r'<code id="new-key">(lbs_[\w-]+)</code>', page).group(1)
    listed = client.get("/account").get_data(as_text=True)
    assert key not in listed  # shown once
    with app.extensions["database"].session() as s:
        made = next(k for k in services.keys_of(s, services.get_user(s, "ann@bank.example").id) if k.name == "laptop")
        lifetime = services._aware(made.expires_at) - services._aware(made.created_at)
        assert round(lifetime.total_seconds() / 86400) == 365  # API_KEY_DAYS
    assert f"{made.expires_at:%Y-%m-%d}" in listed and "365 days after it is made" in listed
    api = app.test_client()
    assert api.get("/api/v1/model", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    with app.extensions["database"].session() as s:
        ids = [k.id for k in services.keys_of(s, services.get_user(s, "ann@bank.example").id) if k.name == "laptop"]
    other = signed_in_client(app, "bob@bank.example")
    assert other.post(f"/account/keys/{ids[0]}/revoke").status_code == 404  # not bob's
    assert client.post(f"/account/keys/{ids[0]}/revoke").status_code == 303
    assert api.get("/api/v1/model", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_events_record_who_did_what_and_never_a_secret(app):
    make_user(app)
    client = app.test_client()
    sign_in(client)
    client.post("/logout")
    admin = signed_in_client(app, "admin@bank.example", "admin")
    events = admin.get("/api/v1/events").json["events"]
    assert {"signed_in", "signed_out", "key_created"} <= {e["action"] for e in events}
    assert PASSWORD not in str(events)


def test_the_proxy_header_is_honoured_only_with_trust_proxy(app):
    make_user(app)
    app.config["AUTH_PROXY_HEADER"] = "X-Forwarded-Email"
    client = app.test_client()
    assert client.get("/model", headers={"X-Forwarded-Email": "ann@bank.example"}).status_code == 302
    app.config["TRUST_PROXY"] = True
    assert client.get("/model", headers={"X-Forwarded-Email": "ann@bank.example"}).status_code == 200
    assert app.test_client().get("/model", headers={"X-Forwarded-Email": "eve@bank.example"}).status_code == 403


def test_permission_for_reads_head_as_get():
    assert permission_for("ui.index", "HEAD") == permission_for("ui.index", "GET") != permission_for("ui.index", "POST")
