"""The per-process API-key cache: a known key costs no database read; a revocation, a disabled
user or a new role is seen at once in this process and within a second in every other."""
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from webapp.accounts import services


@pytest.fixture
def key(db):
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst")
        plaintext, _ = services.create_key(s, "ann@bank.example")
    return plaintext


def statements(db):
    seen = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_known_key_is_answered_from_memory(db, key):
    cache = services.KeyCache(db)
    assert cache.owner(key) == services.KeyOwner(1, "ann@bank.example", "analyst", acts_as="ann@bank.example")
    seen = statements(db)
    assert cache.owner(key).email == "ann@bank.example"
    assert seen == []


def test_an_unknown_or_malformed_key_has_no_owner(db, key):
    cache = services.KeyCache(db)
    assert cache.owner("lbs_unknown") is None and cache.owner("not-a-key") is None


@pytest.mark.parametrize("change", ["revoke the key", "disable the user"])
def test_this_process_sees_a_revocation_or_a_disabled_user_at_once(db, key, change):
    cache = services.KeyCache(db)
    assert cache.owner(key) is not None
    with db.session() as s:
        if change == "revoke the key":
            services.revoke_key(s, key, actor="admin@bank.example")
        else:
            services.disable_user(s, "ann@bank.example", actor="admin@bank.example")
    assert cache.owner(key) is None


def test_a_new_role_is_seen_at_once(db, key):
    cache = services.KeyCache(db)
    assert cache.owner(key).role == "analyst"
    with db.session() as s:
        services.set_role(s, "ann@bank.example", "auditor", actor="admin@bank.example")
    assert cache.owner(key).role == "auditor"


def test_another_process_revoking_is_seen_once_the_generation_is_read_again(db, key, monkeypatch):
    monkeypatch.setattr(services, "GENERATION_TTL", 3600.0)  # a slow machine must not outlast a real one
    monkeypatch.setattr(services, "KEY_TTL", 3600.0)
    cache = services.KeyCache(db)
    assert cache.owner(key) is not None
    with db.session() as s:  # what another worker's revoke_key writes, without this process's counter
        s.execute(text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP"))
        s.execute(text("UPDATE credentials_generation SET value = value + 1"))
    assert cache.owner(key) is not None  # within GENERATION_TTL: the cached answer
    monkeypatch.setattr(services, "GENERATION_TTL", 0.0)
    assert cache.owner(key) is None


def test_a_remembered_key_is_not_trusted_past_its_end(db, monkeypatch):
    with db.session() as s:
        services.create_user(s, "ann@bank.example", "analyst")
        key, row = services.create_key(s, "ann@bank.example", days=1)
    monkeypatch.setattr(services, "KEY_TTL", 3600.0)  # the key is remembered: only its end may refuse it
    cache = services.KeyCache(db)
    assert cache.owner(key) is not None
    end = services._aware(row.expires_at)
    monkeypatch.setattr(services.time, "time", lambda: end.timestamp() + 1)
    monkeypatch.setattr(services, "utcnow", lambda: end + timedelta(seconds=1))
    assert cache.owner(key) is None  # within KEY_TTL of its last check, yet past the key's end
