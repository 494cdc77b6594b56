"""Password hashing (argon2id through argon2-cffi, its RFC 9106 low-memory profile) and the policy: at
least 12 characters, not on the common-password list, not the email."""
from __future__ import annotations

import functools
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a megabyte "password" from costing CPU
COMMON_LIST = Path(__file__).with_name("common_passwords.txt")

_hasher = PasswordHasher()
# A hash checked when the account does not exist, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password-just-timing")


class WeakPassword(ValueError):
    """The password breaks the policy; the message says which rule, for people."""


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def check_policy(password: str, email: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords():
        raise WeakPassword("That password is on a list of common passwords; choose another.")
    if email and lowered in (email.lower(), email.lower().split("@")[0]):
        raise WeakPassword("Do not use your email as your password.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True when the password matches; compares against a dummy hash when there is none."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password[:MAX_LENGTH]) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
