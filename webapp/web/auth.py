"""Signing in and out, one's own account, the first-start setup link and the events API.

Sessions are Flask-Login's (small, and only user loading: Flask-Security-Too would bring its own
forms, tables and mail), with a twist: the id Flask-Login keeps in the cookie is not the user's id
but a random sign-in session id, new at every sign-in, whose hash lives in the `sessions` table, so
a session can be expired (idle and absolute timeouts) and revoked on the server. Failed sign-ins are
counted by the `limits` library (memory, or Redis with REDIS_URL; Flask-Limiter's own core, without
its hooks, which looked up limits on every request though none applies) per account and per client
address: the 6th failure within 15 minutes answers 429.
"""
from __future__ import annotations

import logging
import sys
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from limits import parse, storage, strategies

from webapp.accounts import passwords, services
from webapp.accounts.roles import SEE_ALL, may
from webapp.web.auth_forms import KeyForm, LoginForm, PasswordForm, RevokeForm, SetupForm

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
api_bp = Blueprint("accounts_api", __name__, url_prefix="/api/v1")
login_manager = LoginManager()
FAILURES_ALLOWED = parse("5 per 15 minutes")  # the 6th failure in the window is refused


class Principal(UserMixin):
    """Who is asking: a user, signed in by a browser session (`session_id`) or an API key."""

    def __init__(self, user, session_id: str | None = None, via: str = "session"):
        self.user_id, self.email, self.role = user.id, user.email, user.role
        self.acts_as = getattr(user, "acts_as", "") or user.email  # the name batches, jobs and results know them by
        self.session_id, self.via = session_id, via

    def get_id(self) -> str | None:
        return self.session_id


def database():
    return current_app.extensions["database"]


def current_principal() -> Principal | None:
    principal = g.get("api_principal")
    if principal is None and current_user.is_authenticated:
        principal = current_user._get_current_object()
    return principal


def current_actor() -> str | None:
    """Who is asking (the key's owner for an API call), as `actor` and `owner` columns name them:
    their email, or `email#2` for a later holder of a reissued address (`User.acts_as`)."""
    principal = current_principal()
    return principal.acts_as if principal else None


def can_see_all() -> bool:
    """Auditors and admins see every batch, result and decision; others only their own."""
    principal = current_principal()
    return bool(principal) and may(principal.role, SEE_ALL)


def client_address() -> str:
    return request.remote_addr or ""


@login_manager.user_loader
def load_session(session_id: str) -> Principal | None:
    config = current_app.config
    with database().session() as s:
        user = services.resolve_session(s, session_id, timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
                                        timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]))
    return Principal(user, session_id) if user else None


def sign_in(user) -> None:
    """A fresh session id at every sign-in: whatever the cookie held before is dropped."""
    with database().session() as s:
        session_id = services.start_session(s, user)
    session.clear()
    login_user(Principal(user, session_id))


# --- sign-in throttle --------------------------------------------------------------------------

def _throttle_keys(email: str) -> list[str]:
    return [f"address:{client_address()}", f"account:{services.normalise_email(email)}"]


def throttled(email: str) -> bool:
    limiter = current_app.extensions["login_limiter"]
    return not all(limiter.test(FAILURES_ALLOWED, "sign-in", key) for key in _throttle_keys(email))


def count_failure(email: str) -> None:
    limiter = current_app.extensions["login_limiter"]
    for key in _throttle_keys(email):
        limiter.hit(FAILURES_ALLOWED, "sign-in", key)


# --- views -------------------------------------------------------------------------------------

def _next_url() -> str:
    """Only a path on this site: an open redirect would make the sign-in page a phishing tool. No
    control character or space either: werkzeug drops a tab from `/\t/evil.example`, leaving `//evil…`."""
    target = request.args.get("next") or ""
    if not target.startswith("/") or target.startswith("//") or "\\" in target \
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target) or urlsplit(target).netloc:
        return url_for("ui.index")
    return target


def _login_page(form, error=None, status=200):
    return render_template("login.html", form=form, error=error,
                           sso=bool(current_app.config.get("OIDC_ISSUER"))), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form, status=400 if request.method == "POST" else 200)
    email = form.email.data
    if throttled(email):
        page, status = _login_page(form, "Too many failed sign-ins: try again in 15 minutes.", 429)
        return page, status, {"Retry-After": "900"}
    with database().session() as s:
        try:
            user = services.authenticate(s, email, form.password.data, client_address())
        except services.InvalidCredentials as exc:
            user, error = None, str(exc)
    if user is None:
        count_failure(email)
        return _login_page(form, error)
    sign_in(user)
    return redirect(_next_url(), 303)


@bp.post("/logout")
def logout():
    principal = current_principal()
    if principal and principal.session_id:
        with database().session() as s:
            services.end_session(s, principal.session_id)
            services.record(s, principal.acts_as, "signed_out", "", client_address())
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"), 303)


def _account_page(new_key=None, status=200, password_form=None):
    principal = current_principal()
    with database().session() as s:
        keys = [(key, services.key_state(key)) for key in services.keys_of(s, principal.user_id)]
    return render_template("account.html", principal=principal, keys=keys, new_key=new_key,
                           key_days=current_app.config["API_KEY_DAYS"],
                           password_form=password_form or PasswordForm(), key_form=KeyForm(),
                           revoke_form=RevokeForm()), status


@bp.get("/account")
def account():
    return _account_page()


@bp.post("/account/password")
def change_password():
    form = PasswordForm()
    if not form.validate_on_submit():
        return _account_page(status=400, password_form=form)
    principal = current_principal()
    email = principal.email
    if throttled(email):  # guessing the current password counts as failed sign-ins do
        form.current.errors = ["Too many wrong passwords: try again in 15 minutes."]
        return _account_page(status=429, password_form=form)
    try:
        with database().session() as s:
            services.change_password(s, principal.user_id, form.current.data or "", form.new.data,
                                     keep_session=principal.session_id)
    except (services.InvalidCredentials, passwords.WeakPassword) as exc:
        if isinstance(exc, services.WrongCurrentPassword):
            count_failure(email)
        form.new.errors = [str(exc)]
        return _account_page(status=400, password_form=form)
    flash("Your password is changed.")
    return redirect(url_for("auth.account"), 303)


@bp.post("/account/keys")
def create_key():
    form = KeyForm()
    if not form.validate_on_submit():
        return _account_page(status=400)
    principal = current_principal()
    with database().session() as s:
        key, _ = services.create_key(s, principal.email, form.name.data or "", client=client_address(),
                                     days=current_app.config["API_KEY_DAYS"])
    return _account_page(new_key=key)  # shown this once; never stored in plain


@bp.post("/account/keys/<int:key_id>/revoke")
def revoke_key(key_id: int):
    if not RevokeForm().validate_on_submit():
        return _account_page(status=400)
    principal = current_principal()
    try:
        with database().session() as s:
            services.revoke_key(s, key_id, principal.acts_as, client_address(), owner_id=principal.user_id)
    except services.UnknownKey:
        return _account_page(status=404)  # another's key is not confirmed to exist
    return redirect(url_for("auth.account"), 303)


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    token = request.args.get("token") or ""
    with database().session() as s:
        valid = services.setup_token_valid(s, token)
    if not valid:
        return render_template("error.html", status=404, title="Not Found",
                               detail="This setup link is not valid: it works once, while there are no users."), 404
    form = SetupForm()
    if not form.validate_on_submit():
        return render_template("setup.html", form=form, token=token), 400 if request.method == "POST" else 200
    try:
        with database().session() as s:
            user = services.complete_setup(s, token, form.email.data, form.password.data, client_address())
    except (services.AccountError, passwords.WeakPassword) as exc:
        form.password.errors = [str(exc)]
        return render_template("setup.html", form=form, token=token), 400
    sign_in(user)
    return redirect(url_for("ui.index"), 303)


@api_bp.get("/events")
def events():
    """The events log, newest first (admins and auditors; the permission table says so)."""
    with database().session() as s:
        return {"events": services.events(s, limit=500)}


# --- wiring ------------------------------------------------------------------------------------

def bootstrap(app: Flask) -> None:
    """First start: the configured admin, or a one-time setup link printed once to the console."""
    with app.extensions["database"].session() as s:
        token = services.bootstrap(s, app.config.get("ADMIN_EMAIL"), app.config.get("ADMIN_PASSWORD"))
    if token:
        print(f"No users yet. Create the first admin at /setup?token={token} on this server "
              f"(e.g. http://127.0.0.1:8000/setup?token={token}); the link works once.", file=sys.stderr)


def init_app(app: Flask) -> None:
    # Flask's defaults hold the key with None, so security.init_app's setdefault left it unset.
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config.setdefault("SESSION_IDLE_MINUTES", 30)
    app.config.setdefault("SESSION_ABSOLUTE_HOURS", 12)
    # One throttle per app (its memory storage is the app's own); a moving window: "within 15 minutes",
    # not per clock quarter.
    counts = storage.storage_from_string(app.config.get("REDIS_URL") or "memory://")
    app.extensions["login_limiter"] = strategies.MovingWindowRateLimiter(counts)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    from webapp.web import oidc

    oidc.init_app(app)
    bootstrap(app)


# --- single sign-on ----------------------------------------------------------------------------

@bp.get("/login/sso")
def sso_login():
    from webapp.web import oidc

    if not current_app.config.get("OIDC_ISSUER"):
        abort(404)
    session["sso_next"] = _next_url()
    try:
        return oidc.client().authorize_redirect(url_for("auth.sso_callback", _external=True))
    except OSError as exc:  # requests' connection errors are OSErrors: the provider is down
        log.warning("SSO provider unreachable: %s", type(exc).__name__)
        return _login_page(LoginForm(), "The company sign-in service cannot be reached; try again later.", 503)


@bp.get("/login/sso/callback")
def sso_callback():
    from webapp.web import oidc

    if not current_app.config.get("OIDC_ISSUER"):
        abort(404)
    config = current_app.config
    try:
        claims = oidc.claims_from_callback()
    except OSError as exc:  # requests' connection errors are OSErrors: the provider is down
        log.warning("SSO provider unreachable: %s", type(exc).__name__)
        return _login_page(LoginForm(), "The company sign-in service cannot be reached; try again later.", 503)
    except oidc.SignInRefused as exc:
        log.warning("SSO sign-in refused: %s", exc.reason)
        with database().session() as s:
            services.record(s, "sso", "sign_in_failed", exc.reason, client_address())
        return _login_page(LoginForm(), "Single sign-on did not complete; try again.", 403)
    role = oidc.role_from_claims(claims, config.get("OIDC_ROLES_CLAIM") or "roles", config["OIDC_ROLE_MAP"])
    email = claims.get("email") or ""
    if not email or claims.get("email_verified") is not True:  # a claim left out vouches for nothing
        return _login_page(LoginForm(), "Your company account has no verified email.", 403)
    try:
        user = services.settled_external_user(database().session, email, role, "oidc", client_address(),
                                              identity=(claims["iss"], claims["sub"]),
                                              role_required=bool(config["OIDC_ROLE_MAP"]))
    except services.InvalidCredentials as exc:
        with database().session() as s:  # the refusal is an event: its own unit of work, not rolled back
            services.record(s, email, "sign_in_failed", f"oidc: {exc}", client_address())
            # Offboarded at the provider (its groups claim names no mapped group): keys and sessions
            # stop too. A token without the claim at all is more likely the provider's configuration
            # than an offboarding: refused, never disabled.
            if isinstance(exc, services.NoMappedRole) and (config.get("OIDC_ROLES_CLAIM") or "roles") in claims:
                services.disable_without_role(s, (claims["iss"], claims["sub"]), client_address())
        return _login_page(LoginForm(), str(exc), 403)
    except services.AccountError:  # an email claim this service cannot take (not an address, too long)
        return _login_page(LoginForm(), "Your company account's email cannot be used here.", 403)
    target = session.get("sso_next") or url_for("ui.index")
    sign_in(user)
    return redirect(target, 303)
