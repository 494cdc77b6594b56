"""Security headers on every response, cookie settings, and redirects that never name a host."""
from __future__ import annotations

import hmac
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import RequestRedirect

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
    "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'",
])
HSTS = "max-age=31536000"


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (behind a proxy: as
    TRUST_PROXY's X-Forwarded-Proto says), not only when SESSION_COOKIE_SECURE is set."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def init_app(app: Flask) -> None:
    # Flask defines these keys (SameSite as None), so setdefault would keep its defaults.
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.session_interface = SessionInterface()

    @app.after_request
    def set_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        # Result pages live at secret URLs: never leak them to another site in a Referer.
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store"  # pages and answers carry applicant data
        if isinstance(request.routing_exception, RequestRedirect):
            response.headers["Location"] = _relative(response.headers.get("Location", "/"))
        return response


def _relative(location: str) -> str:
    """Werkzeug builds routing redirects (merged slashes, a missing trailing slash) from the Host
    header: `Host: evil.example` would redirect there. Keep the path and query only."""
    parts = urlsplit(location)
    return urlunsplit(("", "", "/" + parts.path.lstrip("/"), parts.query, ""))


def bearer_matches(authorization: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, the scheme in any case (RFC 6750 and 9110: schemes are
    case-insensitive); the token compared in constant time."""
    scheme, _, supplied = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode())
