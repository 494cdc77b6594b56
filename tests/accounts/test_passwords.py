"""The password policy and hashing."""
import pytest

from webapp.accounts import passwords


@pytest.mark.parametrize("password, rule", [
    ("short-one", "at least 12"),
    ("password1234", "common passwords"),
    ("QWERTYUIOP123", "common passwords"),
    ("ann.lee.2001@bank.example", "email"),
])
def test_weak_passwords_are_refused_naming_the_rule(password, rule):
    with pytest.raises(passwords.WeakPassword, match=rule):
        passwords.check_policy(password, "ann.lee.2001@bank.example")


def test_a_long_uncommon_password_passes():
    passwords.check_policy("violet-harbour-anvil-77", "ann@bank.example")


def test_the_list_ships_with_the_package_and_holds_thousands():
    assert len(passwords.common_passwords()) > 2000


def test_hashes_are_argon2id_salted_and_verify():
    first, second = passwords.hash_password("violet-harbour-anvil-77"), passwords.hash_password("violet-harbour-anvil-77")
    assert first.startswith("$argon2id$") and first != second
    assert passwords.verify(first, "violet-harbour-anvil-77")
    assert not passwords.verify(first, "violet-harbour-anvil-78")
    assert not passwords.verify(None, "anything at all")
