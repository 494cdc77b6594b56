"""Single sign-on through OpenID Connect (Authlib's Flask client): authorization code with PKCE
(S256), state and nonce checked by Authlib, the ID token's signature checked against the provider's
JWKS, its issuer, audience and expiry validated. Roles come from a claim through a mapping setting."""
from __future__ import annotations

import threading

from flask import Flask, current_app

from webapp.accounts.roles import ROLES

# When several groups map, the most powerful role wins.
PRECEDENCE = ("admin", "model_admin", "auditor", "analyst")


def parse_role_mapping(text: str) -> dict[str, str]:
    """'loan-admins=admin, loan-analysts=analyst' -> {claim value: role}."""
    mapping = {}
    for pair in filter(None, (p.strip() for p in (text or "").split(","))):
        value, _, role = pair.partition("=")
        if role.strip() not in ROLES:
            raise ValueError(f"OIDC_ROLE_MAPPING: '{role.strip()}' is not a role ({', '.join(ROLES)})")
        mapping[value.strip()] = role.strip()
    return mapping


def role_from_claims(claims: dict, claim: str, mapping: dict[str, str]) -> str | None:
    values = claims.get(claim) or []
    values = [values] if isinstance(values, str) else list(values)
    roles = {mapping[v] for v in values if isinstance(v, str) and v in mapping}
    return next((role for role in PRECEDENCE if role in roles), None)


_registering = threading.Lock()


def client():
    """The provider's client, registered on first use in each process: Authlib brings requests and
    urllib3, which bind names from `ssl`, and importing them in gunicorn's master (the app is
    preloaded there) would keep them off gevent's patched `ssl` in the workers."""
    app = current_app._get_current_object()
    with _registering:
        if "oidc_client" not in app.extensions:
            from authlib.integrations.flask_client import OAuth

            app.extensions["oidc_client"] = OAuth(app).register(
                "oidc", client_id=app.config.get("OIDC_CLIENT_ID"), client_secret=app.config.get("OIDC_CLIENT_SECRET"),
                server_metadata_url=app.config["OIDC_ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
                client_kwargs={"scope": "openid email", "code_challenge_method": "S256"})
    return app.extensions["oidc_client"]


class SignInRefused(Exception):
    """The provider's answer cannot be trusted; `reason` names the check that failed (for the event)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def claims_from_callback() -> dict:
    """Exchange the code (with the PKCE verifier) and return the validated ID token's claims.

    Authlib reports a bad state or a provider's error as its own errors, but since 1.7 it checks
    the ID token with joserfc, whose errors (bad signature, wrong audience or issuer, expired, nonce)
    are not Authlib's: both are refusals. Authlib also accepts a token answer with no ID token at
    all (it only parses one if present), which would leave nothing verified: refused too. And it
    checks `azp` but never that `aud` holds our client id (OIDC Core 3.1.3.7, step 3): asked here,
    with the issuer, which Authlib only checks when given no claims options of ours."""
    from authlib.common.errors import AuthlibBaseError
    from joserfc.errors import JoseError

    config = current_app.config
    claims_options = {"iss": {"essential": True, "value": config["OIDC_ISSUER"]},
                      "aud": {"essential": True, "value": config.get("OIDC_CLIENT_ID")},
                      "sub": {"essential": True}}  # the identity an account is bound to
    try:
        token = client().authorize_access_token(claims_options=claims_options)
    except (AuthlibBaseError, JoseError) as exc:
        raise SignInRefused(type(exc).__name__) from exc
    if not token.get("userinfo"):
        raise SignInRefused("MissingIdToken")
    claims = dict(token["userinfo"])
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise SignInRefused("BadSubject")  # OIDC Core 2: a string of at most 255 ASCII characters
    return claims


def init_app(app: Flask) -> None:
    issuer = app.config.get("OIDC_ISSUER")
    if not issuer:
        return
    app.config["OIDC_ROLE_MAP"] = parse_role_mapping(app.config.get("OIDC_ROLE_MAPPING") or "")  # the client: `client()`
