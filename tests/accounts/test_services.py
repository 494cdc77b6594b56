"""The accounts operations, on SQLite and PostgreSQL."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp.accounts import services
from webapp.accounts.models import ApiKey, Event
from webapp.accounts.roles import MAX_KEY_DAYS

PASSWORD = "violet-harbour-anvil-77"


def test_users_are_created_with_a_role_and_a_hashed_password(db):
    with db.session() as s:
        user = services.create_user(s, " Ann@Bank.example ", "analyst", PASSWORD)
    assert user.email == "ann@bank.example" and user.password_hash.startswith("$argon2id$")
    with db.session() as s, pytest.raises(services.DuplicateUser):
        services.create_user(s, "ann@bank.example", "analyst", PASSWORD)
    with db.session() as s, pytest.raises(services.BadRole):
        services.create_user(s, "bob@bank.example", "owner", PASSWORD)


def test_sign_in_succeeds_fails_and_records_both_never_the_password(db):
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst", PASSWORD)
    with db.session() as s:
        assert services.authenticate(s, "ANN@bank.example", PASSWORD, "10.0.0.1").email == "ann@bank.example"
    for email in ("ann@bank.example", "nobody@bank.example"):
        with db.session() as s, pytest.raises(services.InvalidCredentials):
            services.authenticate(s, email, "wrong-password-here", "10.0.0.1")
    with db.session() as s:
        rows = [(e.actor, e.action, e.client) for e in s.scalars(select(Event).order_by(Event.id))]
        assert all(PASSWORD not in e.detail for e in s.scalars(select(Event)))
    assert rows == [("ann@bank.example", "signed_in", "10.0.0.1"), ("ann@bank.example", "sign_in_failed", "10.0.0.1"),
                    ("nobody@bank.example", "sign_in_failed", "10.0.0.1")]


def test_a_disabled_user_cannot_sign_in_and_loses_every_session(db):
    with db.session() as s:
        user = services.create_user(s, "ann@bank.example", "analyst", PASSWORD)
        session_id = services.start_session(s, user)
    with db.session() as s:
        services.disable_user(s, "ann@bank.example", actor="admin@bank.example")
    with db.session() as s:
        assert services.resolve_session(s, session_id, timedelta(hours=1), timedelta(hours=8)) is None
    with db.session() as s, pytest.raises(services.InvalidCredentials):
        services.authenticate(s, "ann@bank.example", PASSWORD)


def test_sessions_expire_when_idle_or_old_and_when_ended(db):
    with db.session() as s:
        user = services.create_user(s, "ann@bank.example", "analyst")
        live, ended = services.start_session(s, user), services.start_session(s, user)
    with db.session() as s:
        services.end_session(s, ended)
    with db.session() as s:
        assert services.resolve_session(s, live, timedelta(hours=1), timedelta(hours=8)).email == "ann@bank.example"
        assert services.resolve_session(s, ended, timedelta(hours=1), timedelta(hours=8)) is None
        assert services.resolve_session(s, "made-up", timedelta(hours=1), timedelta(hours=8)) is None
        assert services.resolve_session(s, live, timedelta(hours=1), timedelta(seconds=-1)) is None  # absolute


def test_keys_are_shown_once_stored_as_a_hash_and_revocable(db):
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst")
        key, row = services.create_key(s, "ann@bank.example", name="nightly")
    assert key.startswith("lbs_") and len(key) > 40 and row.prefix == key[:12]
    with db.session() as s:
        stored = s.scalar(select(ApiKey))
        assert key not in (stored.key_hash, stored.prefix) and stored.last_used_at is None
        assert services.user_for_key(s, key).email == "ann@bank.example"
        assert services.user_for_key(s, key[:-1] + "x") is None
    with db.session() as s:
        assert s.scalar(select(ApiKey)).last_used_at is not None
        services.revoke_key(s, key, actor="ann@bank.example")
    with db.session() as s:
        assert services.user_for_key(s, key) is None
        assert [e.action for e in s.scalars(select(Event).order_by(Event.id))] == ["key_created", "key_revoked"]


def test_roles_change_and_the_change_is_an_event(db):
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst")
    with db.session() as s:
        services.set_role(s, "ann@bank.example", "auditor", actor="admin@bank.example")
    with db.session() as s:
        assert services.get_user(s, "ann@bank.example").role == "auditor"
        assert services.events(s)[0]["action"] == "role_changed"


def test_first_start_creates_the_configured_admin(db):
    with db.session() as s:
        assert services.bootstrap(s, "root@bank.example", PASSWORD) is None
    with db.session() as s:
        assert services.get_user(s, "root@bank.example").role == "admin"
        assert services.bootstrap(s, None, None) is None  # users exist: nothing to do


def test_first_start_without_an_admin_gives_a_one_time_setup_token(db):
    with db.session() as s:
        token = services.bootstrap(s, None, None)
    with db.session() as s:
        assert services.bootstrap(s, None, None) is None  # another worker of the same start: no second token
        assert services.setup_token_valid(s, token) and not services.setup_token_valid(s, "guess")
    with db.session() as s:
        services.complete_setup(s, token, "root@bank.example", PASSWORD)
    with db.session() as s, pytest.raises(services.InvalidCredentials):
        services.complete_setup(s, token, "eve@bank.example", PASSWORD)


def test_an_identity_provider_creates_the_user_on_first_sign_in_and_keeps_the_role_in_step(db):
    with db.session() as s:
        assert services.external_user(s, "ann@bank.example", "analyst", "oidc").role == "analyst"
    with db.session() as s:
        assert services.external_user(s, "ann@bank.example", "auditor", "oidc").role == "auditor"
    with db.session() as s, pytest.raises(services.InvalidCredentials):
        services.external_user(s, "bob@bank.example", None, "proxy")


def test_the_last_active_admin_is_neither_demoted_nor_disabled(db):
    with db.session() as s:
        services.create_user(s, "root@bank.example", "admin")
    for change in (lambda s: services.set_role(s, "root@bank.example", "analyst", actor="cli"),
                   lambda s: services.disable_user(s, "root@bank.example", actor="cli")):
        with db.session() as s, pytest.raises(services.AccountError, match="last active admin"):
            change(s)
    with db.session() as s:
        services.create_user(s, "second@bank.example", "admin")
    with db.session() as s:
        services.disable_user(s, "root@bank.example", actor="cli")  # another admin remains
    with db.session() as s, pytest.raises(services.AccountError, match="last active admin"):
        services.set_role(s, "second@bank.example", "auditor", actor="cli")


def test_a_disabled_user_gets_no_key_and_may_be_enabled_again(db):
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst", PASSWORD)
        services.disable_user(s, "ann@bank.example", actor="cli")
    with db.session() as s, pytest.raises(services.AccountError, match="disabled"):
        services.create_key(s, "ann@bank.example", actor="cli")
    with db.session() as s:
        services.enable_user(s, "ann@bank.example", actor="cli")
    with db.session() as s:
        assert services.authenticate(s, "ann@bank.example", PASSWORD).email == "ann@bank.example"
        assert services.events(s)[0]["action"] in ("signed_in", "user_enabled")


@pytest.mark.parametrize("days", [-1, MAX_KEY_DAYS + 1, 3_000_000])
def test_a_key_lifetime_outside_zero_to_a_hundred_years_is_refused_not_a_500(db, days):
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst")
        with pytest.raises(services.AccountError, match="from 1 to 36,500"):
            services.create_key(s, "ann@bank.example", days=days)


def test_a_key_stops_working_at_its_end_and_shows_as_expired(db, monkeypatch):
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst")
        key, row = services.create_key(s, "ann@bank.example", days=30)
        forever, _ = services.create_key(s, "ann@bank.example")  # no days: no end
    later = services.utcnow() + timedelta(days=30, seconds=1)
    monkeypatch.setattr(services, "utcnow", lambda: later)
    with db.session() as s:
        assert services.user_for_key(s, key) is None
        assert services.user_for_key(s, forever).email == "ann@bank.example"
        assert [services.key_state(k) for k in services.keys_of(s, 1)] == ["expired", "live"]


def test_retiring_an_account_frees_its_address_and_the_next_holder_acts_under_another_name(db):
    """A leaver's address reissued: the new person gets a new account, never the old one's keys or records."""
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst")
        key, _ = services.create_key(s, "ann@bank.example")
    with db.session() as s:
        retired = services.retire_user(s, "ann@bank.example", actor="admin@bank.example")
        assert (retired.acts_as, retired.disabled) == ("ann@bank.example", True)
        assert retired.email.startswith("retired#") and retired.retired_at is not None
    with db.session() as s:
        assert services.user_for_key(s, key) is None  # revoked with the account
        assert services.find_user(s, "ann@bank.example") is None
        newcomer = services.create_user(s, "ann@bank.example", "analyst")
        assert newcomer.acts_as == "ann@bank.example#2"
        assert services.events(s)[0]["action"] == "user_retired"
    with db.session() as s:
        services.retire_user(s, "ann@bank.example", actor="admin@bank.example")
        assert services.create_user(s, "ann@bank.example", "analyst").acts_as == "ann@bank.example#3"
        assert services.create_user(s, "bob@bank.example", "analyst").acts_as == "bob@bank.example"


def test_a_retired_account_is_never_enabled_again(db):
    with db.session() as s:
        retired = services.create_user(s, "ann@bank.example", "analyst")
        services.retire_user(s, "ann@bank.example", actor="cli")
        with pytest.raises(services.AccountError, match="retired"):
            services.enable_user(s, retired.email, actor="cli")


def test_a_disabled_account_is_unlinked_from_single_sign_on_only_when_forced(db):
    """Disabled is how a leaver's account looks: unlinking it would hand it to whoever has the address now."""
    with db.session() as s:
        user = services.create_user(s, "ann@bank.example", "analyst")
        user.sso_issuer, user.sso_subject = "https://idp.example", "u-1"
        services.create_user(s, "admin@bank.example", "admin")
        services.disable_user(s, "ann@bank.example", actor="cli")
        with pytest.raises(services.AccountError, match="retire"):
            services.unlink_sso(s, "ann@bank.example", actor="cli")
        assert services.unlink_sso(s, "ann@bank.example", actor="cli", force=True)[0].sso_subject is None
        user.sso_issuer, user.sso_subject = "https://idp.example", "u-1"
        assert services.unlink_sso(s, None, actor="cli", issuer="https://idp.example") == []  # skipped
        assert len(services.unlink_sso(s, None, actor="cli", issuer="https://idp.example", force=True)) == 1


def test_the_last_active_admin_is_not_retired(db):
    with db.session() as s:
        services.create_user(s, "root@bank.example", "admin")
        with pytest.raises(services.AccountError, match="last active admin"):
            services.retire_user(s, "root@bank.example", actor="cli")


def test_an_address_too_long_for_the_record_is_refused_when_the_account_is_made(db):
    """A batch names its actor in 200 characters: an address and a later holder's `#n` must fit."""
    with db.session() as s:
        with pytest.raises(services.AccountError, match="at most 190 characters"):
            services.create_user(s, "a" * 180 + "@bank.example", "analyst")
        assert services.create_user(s, "a" * 177 + "@bank.example", "analyst").acts_as.startswith("aaa")


def test_the_role_of_a_name_the_record_uses_is_the_account_acting_under_it(db):
    """The model registry asks `role_of(current_actor())`: a later holder of an address is `email#2`."""
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "model_admin")
        services.retire_user(s, "ann@bank.example", actor="cli")
        services.create_user(s, "ann@bank.example", "model_admin")
        assert services.role_of(s, "ann@bank.example#2") == "model_admin"
        assert services.role_of(s, "ann@bank.example") is None  # the retired leaver's name
        assert services.acting_as(s, "ann@bank.example") == "ann@bank.example#2"  # the CLI's --by
        assert services.acting_as(s, "nobody@bank.example") == "nobody@bank.example"
