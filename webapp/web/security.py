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
# Set on every response that does not set its own: (lower-case name, name, value).
SECURITY_HEADERS = tuple((name.lower(), name, value) for name, value in (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),  # result pages live at secret URLs: never leak them in a Referer
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
))


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
        # One pass over the names already there: `setdefault` scans every header three times per
        # name, which a scored answer's dozen headers made a measurable part of a single record.
        present = {name.lower() for name in headers.keys()}
        for lowered, name, value in SECURITY_HEADERS:
            if lowered not in present:
                headers.add(name, value)
        if request.is_secure and "strict-transport-security" not in present:
            headers.add("Strict-Transport-Security", HSTS)
        if request.endpoint != "static":  # pages and answers carry applicant data
            if "cache-control" in present:
                headers["Cache-Control"] = "no-store"
            else:
                headers.add("Cache-Control", "no-store")
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
