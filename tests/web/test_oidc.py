"""Single sign-on: roles from the provider's claim through the mapping setting, and the whole
authorization-code flow with PKCE against a real OpenID provider on 127.0.0.1
(tests/web/oidc_provider.py): a first sign-in, and the refusals of a token the service cannot trust."""
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import BufferedClient
from tests.web.oidc_provider import Provider, new_key, running
from webapp import create_app
from webapp.accounts import services
from webapp.web import oidc


def test_the_role_mapping_setting_is_parsed_and_checked():
    assert oidc.parse_role_mapping("loan-admins=admin, loan-analysts=analyst") == {"loan-admins": "admin",
                                                                                   "loan-analysts": "analyst"}
    with pytest.raises(ValueError, match="owner"):
        oidc.parse_role_mapping("x=owner")


@pytest.mark.parametrize("claim, role", [
    (["loan-analysts"], "analyst"),
    (["loan-analysts", "loan-admins"], "admin"),  # the most powerful mapped role wins
    ("loan-auditors", "auditor"),
    (["other"], None),
    (None, None),
])
def test_the_role_comes_from_the_claim(claim, role):
    mapping = {"loan-admins": "admin", "loan-analysts": "analyst", "loan-auditors": "auditor"}
    assert oidc.role_from_claims({"groups": claim}, "groups", mapping) == role


# --- against a real OpenID provider on 127.0.0.1 --------------------------------------------------

@pytest.fixture
def provider():
    provider = Provider()
    with running(provider):
        yield provider


def an_sso_app(model_path, tmp_path, provider, role_mapping: str):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "MODEL_PATH": str(model_path),
                      "UPLOAD_FOLDER": str(uploads), "WTF_CSRF_ENABLED": False,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'sso.db'}", "MODEL_STORE": str(tmp_path / "models"),
                      "OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": provider.client_id,
                      "OIDC_CLIENT_SECRET": provider.client_secret, "OIDC_ROLES_CLAIM": "groups",
                      "OIDC_ROLE_MAPPING": role_mapping})
    app.test_client_class = BufferedClient
    return app


@pytest.fixture
def sso_app(model_path, tmp_path, provider):
    """The provider's groups decide the roles (a mapping is set)."""
    app = an_sso_app(model_path, tmp_path, provider, "loan-admins=admin, loan-analysts=analyst")
    yield app
    app.extensions["database"].dispose()


@pytest.fixture
def sso_app_with_local_roles(model_path, tmp_path, provider):
    """No mapping: roles are given here, by an admin, and single sign-on only proves who signs in."""
    app = an_sso_app(model_path, tmp_path, provider, "")
    yield app
    app.extensions["database"].dispose()


def to_the_provider(browser, next_url: str = "/") -> str:
    """What a browser does up to the provider's answer: the service's /login/sso sends it to the
    provider's /authorize (a real HTTP request), which redirects back; returns that callback URL."""
    start = browser.get("/login/sso", query_string={"next": next_url})
    assert start.status_code == 302
    answer = requests.get(start.location, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def back_to_the_service(browser, callback_url: str):
    parts = urlsplit(callback_url)
    assert parts.path == "/login/sso/callback"
    return browser.get(parts.path, query_string=parts.query)


def sign_in_through_the_provider(browser, next_url: str = "/"):
    return back_to_the_service(browser, to_the_provider(browser, next_url))


def events(app, action: str) -> list[dict]:
    with app.extensions["database"].session() as s:
        return [e for e in services.events(s) if e["action"] == action]


def test_the_service_sends_the_person_to_the_provider_with_pkce_state_and_nonce(sso_app, provider):
    start = sso_app.test_client().get("/login/sso")
    parts = urlsplit(start.location)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == provider.issuer + "/authorize"  # from discovery
    assert query["response_type"] == ["code"] and query["client_id"] == [provider.client_id]
    assert "openid" in query["scope"][0].split()
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == ["http://localhost/login/sso/callback"]


def test_a_first_sign_in_creates_the_user_with_the_role_mapped_from_the_claim(sso_app, provider):
    provider.person["groups"] = ["loan-analysts", "loan-admins"]
    browser = sso_app.test_client()
    answer = sign_in_through_the_provider(browser, next_url="/account")
    assert answer.status_code == 303 and answer.location.endswith("/account")
    assert browser.get("/account").status_code == 200  # signed in
    assert provider.token_requests == 1  # the code was exchanged with the verifier
    with sso_app.extensions["database"].session() as s:
        user = services.find_user(s, "dana@bank.example")
        assert user.role == "admin"  # the most powerful mapped group
    assert [e["detail"] for e in events(sso_app, "user_created")] == ["oidc"]
    assert [e["actor"] for e in events(sso_app, "signed_in")] == ["dana@bank.example"]


def test_the_role_follows_the_claim_at_the_next_sign_in(sso_app, provider):
    sign_in_through_the_provider(sso_app.test_client())
    provider.person["groups"] = ["loan-admins"]
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    with sso_app.extensions["database"].session() as s:
        assert services.find_user(s, "dana@bank.example").role == "admin"
    assert [e["detail"] for e in events(sso_app, "role_changed")] == ["dana@bank.example: analyst -> admin"]


def test_without_a_mapped_group_nobody_signs_in(sso_app, provider):
    provider.person["groups"] = ["cafeteria"]
    answer = sign_in_through_the_provider(sso_app.test_client())
    assert answer.status_code == 403 and b"in no group that has a role here" in answer.data
    with sso_app.extensions["database"].session() as s:
        assert services.find_user(s, "dana@bank.example") is None


def test_someone_taken_out_of_every_mapped_group_is_refused_not_left_with_the_old_role(sso_app, provider):
    """Offboarding at the provider is by group: an admin removed from `loan-admins` stops being one."""
    provider.person["groups"] = ["loan-admins"]
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    provider.person["groups"] = []
    browser = sso_app.test_client()
    answer = sign_in_through_the_provider(browser)
    assert answer.status_code == 403 and b"in no group that has a role here" in answer.data
    assert browser.get("/account").status_code == 302  # not signed in
    assert "no group" in events(sso_app, "sign_in_failed")[0]["detail"]


def test_an_account_offboarded_at_the_provider_is_disabled_so_its_keys_stop_too(sso_app, provider):
    with sso_app.extensions["database"].session() as s:
        services.create_user(s, "root@bank.example", "admin")  # another admin: Dana may be disabled
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    with sso_app.extensions["database"].session() as s:
        key, _ = services.create_key(s, "dana@bank.example")
    provider.person["groups"] = ["cafeteria"]
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 403
    with sso_app.extensions["database"].session() as s:
        assert services.find_user(s, "dana@bank.example").disabled
        assert services.user_for_key(s, key) is None
    assert "no mapped group" in events(sso_app, "user_disabled")[0]["detail"]


def test_a_token_without_the_groups_claim_is_refused_but_disables_nobody(sso_app, provider):
    """A provider configured not to send the claim would otherwise disable everyone who signs in."""
    with sso_app.extensions["database"].session() as s:
        services.create_user(s, "root@bank.example", "admin")
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    del provider.person["groups"]
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 403
    with sso_app.extensions["database"].session() as s:
        assert not services.find_user(s, "dana@bank.example").disabled


def test_without_a_mapping_an_account_an_admin_made_signs_in_with_the_role_given_here(
        sso_app_with_local_roles, provider):
    provider.person["groups"] = ["loan-admins"]  # groups mean nothing without a mapping
    app = sso_app_with_local_roles
    assert b"has no account here" in sign_in_through_the_provider(app.test_client()).data
    with app.extensions["database"].session() as s:
        services.create_user(s, "dana@bank.example", "auditor")
    assert sign_in_through_the_provider(app.test_client()).status_code == 303
    with app.extensions["database"].session() as s:
        user = services.find_user(s, "dana@bank.example")
        assert (user.role, user.sso_subject) == ("auditor", "u-1")  # bound at its first sign-in


def test_an_email_claim_never_opens_a_password_account(sso_app, provider):
    """Some providers let users set their own email claim: it must not make them a local admin."""
    with sso_app.extensions["database"].session() as s:
        services.create_user(s, "root@bank.example", "admin", "violet-harbour-anvil-77")
    provider.person.update({"sub": "attacker-123", "email": "root@bank.example", "groups": []})
    browser = sso_app.test_client()
    answer = sign_in_through_the_provider(browser)
    assert answer.status_code == 403 and b"signs in with its password here" in answer.data
    assert browser.get("/account").status_code in (302, 303)  # not signed in


def test_the_account_is_bound_to_its_identity_and_keeps_it_when_the_email_claim_changes(sso_app, provider):
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    provider.person["email"] = "dana.smith@bank.example"  # renamed at the provider: the same person
    browser = sso_app.test_client()
    assert sign_in_through_the_provider(browser).status_code == 303
    with sso_app.extensions["database"].session() as s:
        assert services.find_user(s, "dana.smith@bank.example") is None  # no second account
        user = services.find_user(s, "dana@bank.example")
        assert (user.sso_issuer, user.sso_subject) == (provider.issuer, "u-1")
    assert [e["actor"] for e in events(sso_app, "signed_in")] == ["dana@bank.example"] * 2
    assert len(events(sso_app, "sso_linked")) == 1


def test_an_address_reissued_to_another_person_does_not_open_the_first_persons_account(sso_app, provider):
    """A leaver's address given to a new hire: the email matches, the provider's subject does not."""
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    provider.person["sub"] = "u-2"
    browser = sso_app.test_client()
    answer = sign_in_through_the_provider(browser)
    assert answer.status_code == 403 and b"belongs to another company identity" in answer.data
    assert browser.get("/account").status_code == 302
    with sso_app.extensions["database"].session() as s:  # an admin sorts it out: `flask users retire`
        services.retire_user(s, "dana@bank.example", actor="admin@bank.example")
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    with sso_app.extensions["database"].session() as s:
        newcomer = services.find_user(s, "dana@bank.example")  # a new account, not the leaver's
        assert (newcomer.sso_subject, newcomer.acts_as) == ("u-2", "dana@bank.example#2")
    provider.person["sub"] = "u-1"  # the leaver's identity still finds only its retired account
    answer = sign_in_through_the_provider(sso_app.test_client())
    assert answer.status_code == 403 and b"disabled" in answer.data


def test_the_sign_in_that_binds_an_account_also_brings_its_role_in_step(sso_app, provider):
    with sso_app.extensions["database"].session() as s:
        services.create_user(s, "dana@bank.example", "admin")  # made before binding existed
    provider.person["groups"] = ["loan-analysts"]  # demoted at the provider meanwhile
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    with sso_app.extensions["database"].session() as s:
        user = services.find_user(s, "dana@bank.example")
        assert (user.role, user.sso_subject) == ("analyst", "u-1")


def test_a_refused_sign_in_is_an_event_and_two_first_sign_ins_at_once_make_one_account(sso_app, provider, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    with sso_app.extensions["database"].session() as s:
        services.create_user(s, "dana@bank.example", "analyst").sso_subject = "someone-else"
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 403
    assert "another company identity" in events(sso_app, "sign_in_failed")[0]["detail"]
    with sso_app.extensions["database"].session() as s:
        s.delete(services.find_user(s, "dana@bank.example"))
    real, calls = services.external_user, []

    def racing(session, *args, **kwargs):  # the other tab committed the account a moment before
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO users", {}, Exception("duplicate key"))
        return real(session, *args, **kwargs)

    monkeypatch.setattr(services, "external_user", racing)
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303 and len(calls) == 2


def test_an_account_made_by_an_admin_for_single_sign_on_is_bound_at_its_first_sign_in(sso_app, provider):
    with sso_app.extensions["database"].session() as s:
        services.create_user(s, "dana@bank.example", "auditor")
    provider.person["groups"] = ["loan-analysts"]
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    with sso_app.extensions["database"].session() as s:
        user = services.find_user(s, "dana@bank.example")
        assert (user.sso_subject, user.role) == ("u-1", "analyst")  # the provider's groups decide


@pytest.mark.parametrize("claims", [{"email_verified": None}, {"email_verified": "true"},
                                    {"email": "no-at-sign"}, {"email": "x" * 330 + "@bank.example"}])
def test_an_unverified_or_unusable_email_claim_is_refused_with_a_403(sso_app, provider, claims):
    provider.person.update(claims)
    if claims.get("email_verified", True) is None:
        del provider.person["email_verified"]
    answer = sign_in_through_the_provider(sso_app.test_client())
    assert answer.status_code == 403


def refused(app, answer) -> None:
    """A refused sign-in: the sign-in page with 403, nobody signed in, a failure event, no user made."""
    assert answer.status_code == 403
    assert b"Single sign-on did not complete" in answer.data
    assert events(app, "sign_in_failed")
    with app.extensions["database"].session() as s:
        assert services.find_user(s, "dana@bank.example") is None


@pytest.mark.parametrize("misbehaviour", [
    pytest.param(lambda p: setattr(p, "signing_key", new_key()), id="signed by another key, same key id"),
    pytest.param(lambda p: p.override.update(aud="another-client"), id="minted for another audience"),
    # Authlib alone accepts this one: it checks azp, but never that aud holds the client id.
    pytest.param(lambda p: p.override.update(aud="another-client", azp=p.client_id),
                 id="another audience, naming us as the authorized party"),
    pytest.param(lambda p: p.override.update(iss="http://127.0.0.1:1"), id="from another issuer"),
    pytest.param(lambda p: p.override.update(exp=int(time.time()) - 600, iat=int(time.time()) - 900),
                 id="expired (beyond the leeway)"),
    pytest.param(lambda p: p.override.update(at_hash="not-the-hash"), id="bound to another access token"),
    pytest.param(lambda p: p.override.update(sub=""), id="without a subject"),
    pytest.param(lambda p: p.override.update(sub=12345), id="a subject that is not a string"),
])
def test_an_id_token_the_service_cannot_trust_is_refused(sso_app, provider, misbehaviour):
    misbehaviour(provider)
    browser = sso_app.test_client()
    refused(sso_app, sign_in_through_the_provider(browser))
    assert browser.get("/account").status_code == 302  # still signed out


def test_a_replayed_id_token_is_refused_by_its_nonce(sso_app, provider):
    """An ID token captured from one sign-in, sent back in another: its nonce is the old flow's."""
    provider.person["email"] = "first@bank.example"
    assert sign_in_through_the_provider(sso_app.test_client()).status_code == 303
    provider.person["email"] = "dana@bank.example"
    provider.replay = provider.issued[-1]
    answer = sign_in_through_the_provider(sso_app.test_client())
    refused(sso_app, answer)
    assert events(sso_app, "sign_in_failed")[0]["detail"] == "InvalidClaimError"


def test_the_same_callback_twice_is_refused(sso_app, provider):
    provider.person["email"] = "first@bank.example"
    browser = sso_app.test_client()
    callback = to_the_provider(browser)
    assert back_to_the_service(browser, callback).status_code == 303
    tokens_before = provider.token_requests
    refused(sso_app, back_to_the_service(browser, callback))  # its state was used up
    assert provider.token_requests == tokens_before  # refused before the code was tried again


def test_a_callback_with_a_state_the_service_did_not_issue_is_refused(sso_app, provider):
    browser = sso_app.test_client()
    callback = urlsplit(to_the_provider(browser))
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    query["state"] = "forged-" + query["state"]
    refused(sso_app, browser.get(callback.path, query_string=query))
    assert provider.token_requests == 0


def test_a_callback_in_another_browser_is_refused(sso_app, provider):
    """Login CSRF: an attacker's callback link, opened by a victim, holds no state of the victim's."""
    callback = to_the_provider(sso_app.test_client())
    refused(sso_app, back_to_the_service(sso_app.test_client(), callback))


def test_an_error_from_the_provider_is_refused(sso_app, provider):
    browser = sso_app.test_client()
    callback = urlsplit(to_the_provider(browser))
    state = parse_qs(callback.query)["state"][0]
    refused(sso_app, browser.get(callback.path, query_string={"error": "access_denied", "state": state}))


def test_a_token_answer_without_an_id_token_is_refused(sso_app, provider):
    """Authlib parses an ID token only if one came; with none, nothing about the person is verified."""
    provider.send_id_token = False
    refused(sso_app, sign_in_through_the_provider(sso_app.test_client()))
    assert events(sso_app, "sign_in_failed")[0]["detail"] == "MissingIdToken"


def test_without_an_issuer_single_sign_on_is_off(app):
    assert app.test_client().get("/login/sso").status_code == 404


def test_an_unreachable_provider_is_a_clear_503_not_a_crash(model_path, tmp_path):
    from tests.conftest import free_port

    app = create_app({"TESTING": True, "SECRET_KEY": "test", "MODEL_PATH": str(model_path),
                      "UPLOAD_FOLDER": str(tmp_path), "WTF_CSRF_ENABLED": False,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'sso.db'}", "MODEL_STORE": str(tmp_path / "models"),
                      "OIDC_ISSUER": f"http://127.0.0.1:{free_port()}", "OIDC_CLIENT_ID": "loans",
                      "OIDC_CLIENT_SECRET": "secret"})
    app.test_client_class = BufferedClient
    answer = app.test_client().get("/login/sso")
    assert answer.status_code == 503 and "cannot be reached" in answer.get_data(as_text=True)
    app.extensions["database"].dispose()
