"""A small but real OpenID provider for the tests, served on 127.0.0.1 by Werkzeug in a thread.

Hand-written endpoints, signing with joserfc (the JOSE library Authlib itself now uses; its own
`authlib.jose` is deprecated and would warn): the discovery document, `/authorize` (which approves
at once, as the person the test chose), `/token` (client secret, one-time codes, the redirect URI
and the PKCE S256 verifier all checked) and `/jwks`. A test can make it misbehave the way a broken
or hostile provider would — sign with another key, mint for another audience, hand out an expired
token or replay an old one — to see the service refuse.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from authlib.oidc.core.util import create_half_hash
from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

KEY_ID = "provider-key"


def new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})


@dataclass
class Provider:
    """The provider's state, shared with the test that drives it."""

    issuer: str = ""
    client_id: str = "loan-scoring"
    client_secret: str = "provider-issued-secret"
    key: RSAKey = field(default_factory=new_key)  # published at /jwks
    person: dict = field(default_factory=lambda: {"sub": "u-1", "email": "dana@bank.example",
                                                  "email_verified": True, "groups": ["loan-analysts"]})
    # Misbehaviour, for the refusals: claims to override, a key to sign with instead of the published
    # one, an ID token to send instead of a fresh one, or none at all.
    override: dict = field(default_factory=dict)
    signing_key: RSAKey | None = None
    replay: str | None = None
    send_id_token: bool = True
    issued: list[str] = field(default_factory=list)  # every ID token sent, newest last
    codes: dict = field(default_factory=dict)
    token_requests: int = 0

    def id_token(self, nonce: str | None, access_token: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "auth_time": now, "at_hash": create_half_hash(access_token, "RS256").decode(),
                  **self.person, **self.override}
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, self.signing_key or self.key)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _error(code: str, status: int = 400):
    return jsonify(error=code), status


def create_provider_app(provider: Provider) -> Flask:
    app = Flask(__name__)

    @app.get("/.well-known/openid-configuration")
    def discovery():
        return {"issuer": provider.issuer, "authorization_endpoint": provider.issuer + "/authorize",
                "token_endpoint": provider.issuer + "/token", "jwks_uri": provider.issuer + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": ["openid", "email"]}

    @app.get("/jwks")
    def jwks():
        return KeySet([provider.key]).as_dict(private=False)

    @app.get("/authorize")
    def authorize():
        args = request.args
        if args.get("client_id") != provider.client_id or not args.get("redirect_uri"):
            abort(400)  # never redirect to a URI of an unknown client
        if (args.get("response_type") != "code" or "openid" not in args.get("scope", "").split()
                or args.get("code_challenge_method") != "S256" or not args.get("code_challenge")):
            return redirect(args["redirect_uri"] + "?" + urlencode({"error": "invalid_request",
                                                                    "state": args.get("state", "")}))
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {"redirect_uri": args["redirect_uri"], "nonce": args.get("nonce"),
                                "challenge": args["code_challenge"]}
        # Approved at once: the person is signed in at the provider and has consented.
        return redirect(args["redirect_uri"] + "?" + urlencode({"code": code, "state": args.get("state", "")}))

    @app.post("/token")
    def token():
        provider.token_requests += 1
        auth = request.authorization
        client_id, secret = ((auth.username, auth.password) if auth and auth.type == "basic"
                             else (request.form.get("client_id"), request.form.get("client_secret")))
        if client_id != provider.client_id or secret != provider.client_secret:
            return _error("invalid_client", 401)
        if request.form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type")
        grant = provider.codes.pop(request.form.get("code", ""), None)  # one use only
        if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
            return _error("invalid_grant")
        if _s256(request.form.get("code_verifier", "")) != grant["challenge"]:
            return _error("invalid_grant")
        access_token = secrets.token_urlsafe(24)
        answer = {"access_token": access_token, "token_type": "Bearer", "expires_in": 300}
        if provider.send_id_token:
            answer["id_token"] = provider.replay or provider.id_token(grant["nonce"], access_token)
            provider.issued.append(answer["id_token"])
        return answer

    return app


class running:
    """`with running(provider) as issuer:` serves the provider on a free port of 127.0.0.1."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.server = make_server("127.0.0.1", 0, create_provider_app(provider), threaded=True)
        provider.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="oidc-provider", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return self.provider.issuer

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
