"""The permission table: every endpoint and the permission it needs, enforced in one hook.

Signed-out people asking for a page are sent to /login; an API call without a live key answers 401
problem+json with `WWW-Authenticate: Bearer`; a signed-in person without the permission gets 403.
An endpoint missing from the table is refused (and a test generated from the route map fails).
What another analyst may not see answers 404: that is the records' business (filtered by
`auth.current_actor()` unless `auth.can_see_all()`), not this table's.
"""
from __future__ import annotations

from flask import Flask, abort, current_app, g, redirect, request, url_for

from webapp.accounts import services
from webapp.accounts.roles import (MANAGE_MODELS, MANAGE_USERS, OWN_ACCOUNT, READ_EVENTS, READ_MODEL, READ_RESULTS, SCORE,
                                   may)
from webapp.web import auth
from webapp.web.problems import problem

PUBLIC = "public"  # no sign-in: the sign-in pages themselves, the docs, static files and the probes

# endpoint -> permission, or {method: permission} where methods differ. HEAD and OPTIONS go as GET.
ENDPOINTS: dict[str, str | dict[str, str]] = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    "metrics.metrics": PUBLIC,  # keeps its own METRICS_TOKEN
    "docs.docs_page": PUBLIC,
    "docs.openapi_json": PUBLIC,  # the reference the docs page reads
    "auth.login": PUBLIC,
    "auth.setup": PUBLIC,  # its one-time token is the permission
    "auth.sso_login": PUBLIC,
    "auth.sso_callback": PUBLIC,
    "auth.logout": OWN_ACCOUNT,
    "auth.account": OWN_ACCOUNT,
    "auth.change_password": OWN_ACCOUNT,
    "auth.create_key": OWN_ACCOUNT,
    "auth.revoke_key": OWN_ACCOUNT,
    "ui.index": {"GET": READ_MODEL, "POST": SCORE},  # an auditor sees the page, scores nothing
    "ui.results": READ_RESULTS,
    "ui.download": READ_RESULTS,
    "ui.model_page": READ_MODEL,
    "api.score": SCORE,
    "api.model_card": READ_MODEL,
    "api.template": READ_MODEL,
    "accounts_api.events": READ_EVENTS,
    # The decision record: whose records a caller sees is the records views' business (404 for others').
    "records.decisions": READ_RESULTS,
    "records.batches": READ_RESULTS,
    "records.batch": READ_RESULTS,
    "records.batches_page": READ_RESULTS,
    "records.lookup_page": READ_RESULTS,
    # Notices: made from the record, so scoped like it (404 for another analyst's batch or result).
    "notices.batch_notices": READ_RESULTS,
    "notices.batch_notices_page": READ_RESULTS,
    "notices.result_notices": READ_RESULTS,
    # Model versions: anyone who may read the model sees them; changes need a model admin, and the
    # registry itself holds four eyes (an approver other than who registered).
    "models.list_models": READ_MODEL,
    "models.approve": MANAGE_MODELS,
    "models.promote": MANAGE_MODELS,
    "models.rollback": MANAGE_MODELS,
    "models.challenger": MANAGE_MODELS,
    # Jobs: whose jobs a caller sees is the jobs views' business (404 for others').
    "jobs_api.submit": SCORE,
    "jobs_api.jobs": READ_RESULTS,
    "jobs_api.job": READ_RESULTS,
    "jobs_api.result": READ_RESULTS,
    "jobs_api.cancel_job": SCORE,
    "jobs.job_page": READ_RESULTS,
    "jobs.job_status": READ_RESULTS,
}
KNOWN_PERMISSIONS = {PUBLIC, SCORE, READ_RESULTS, READ_MODEL, READ_EVENTS, MANAGE_USERS, MANAGE_MODELS, OWN_ACCOUNT}


def permission_for(endpoint: str, method: str) -> str | None:
    needed = ENDPOINTS.get(endpoint)
    if isinstance(needed, dict):
        return needed.get("GET" if method in ("HEAD", "OPTIONS") else method)
    return needed


def bearer_key() -> str | None:
    """The key from `Authorization: Bearer <key>` (the scheme is case-insensitive, RFC 9110 11.1)."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def _api_principal() -> auth.Principal | None:
    key = bearer_key()
    if key is None:
        return None
    cache = current_app.extensions.get("key_cache")
    if cache is None:  # one per app (and so per worker), made on first use
        cache = current_app.extensions["key_cache"] = services.KeyCache(auth.database())
    owner = cache.owner(key)
    return auth.Principal(owner, via="key") if owner else None


def _unauthorized():
    response = problem(401, "Unauthorized", "Send an API key as 'Authorization: Bearer <key>' "
                       "(create one on your account page or with 'flask keys create').", "unauthorized")
    response.headers["WWW-Authenticate"] = 'Bearer realm="loan-scoring"'
    return response


def _proxy_sign_in() -> None:
    """Behind an authenticating proxy (TRUST_PROXY and AUTH_PROXY_HEADER), its header names the person."""
    config = current_app.config
    header = config.get("AUTH_PROXY_HEADER")
    email = request.headers.get(header, "").strip() if header and config.get("TRUST_PROXY") else ""
    if not email or (auth.current_principal() and auth.current_principal().email == services.normalise_email(email)):
        return
    try:
        with auth.database().session() as s:
            user = services.external_user(s, email, None, "proxy", auth.client_address())
    except services.InvalidCredentials:
        abort(403, "The proxy vouches for someone without an account here.")
    auth.sign_in(user)


def enforce():
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route: the 404 or 405 handlers answer
    needed = permission_for(endpoint, request.method)
    if needed is None:
        abort(403, "This route has no permission declared.")  # fail closed
    if needed == PUBLIC:
        return None
    if request.path.startswith("/api/"):
        g.api_principal = _api_principal()  # the API authenticates by key only, never by cookie
        if g.api_principal is None:
            return _unauthorized()
    else:
        _proxy_sign_in()
    principal = auth.current_principal()
    if principal is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), 303 if request.method != "GET" else 302)
    if not may(principal.role, needed):
        abort(403, "Your role does not allow this.")
    return None


def init_app(app: Flask) -> None:
    app.before_request(enforce)
