"""The accounts operations. Each takes a SQLAlchemy session (from `Database.session()`, which commits
when its block ends) and returns plain values or model rows; errors are `AccountError`s."""
from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.accounts import passwords
from webapp.accounts.models import ApiKey, CredentialsGeneration, Event, SetupToken, SignInSession, User, utcnow
from webapp.accounts.roles import MAX_KEY_DAYS, ROLES

# A batch's `actor` column holds 200 characters: an address, and `#n` for a later holder of it.
MAX_EMAIL_LENGTH = 190
KEY_PREFIX = "lbs_"  # "loan batch scoring": recognisable in a leaked-secret scan
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 8
SEEN_WRITE_INTERVAL = timedelta(seconds=60)  # last_seen/last_used are written at most once a minute


class AccountError(Exception):
    """An accounts operation refused, with a message for people."""


class UnknownUser(AccountError):
    pass


class DuplicateUser(AccountError):
    pass


class BadRole(AccountError):
    pass


class InvalidCredentials(AccountError):
    """Wrong email or password, or a disabled account: one message, so neither is confirmed."""


class NoMappedRole(InvalidCredentials):
    """Single sign-on with a role mapping, and the provider's groups map to no role."""


class WrongCurrentPassword(InvalidCredentials):
    """A password change whose current password is not right (counted like a failed sign-in)."""


class UnknownKey(AccountError):
    pass


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def normalise_email(email: str) -> str:
    return email.strip().lower()


# --- users -------------------------------------------------------------------------------------

def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User))


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def role_of(session: Session, name: str) -> str | None:
    """The role of the active account acting as `name` (`User.acts_as`: what the web layer's
    `current_actor()` and the CLI's `acting_as` give), or None (unknown or disabled): what the model
    registry asks before a model admin's action."""
    name = normalise_email(name)
    user = session.scalar(select(User).where(or_(User.actor == name, and_(User.actor.is_(None), User.email == name))))
    return user.role if user is not None and not user.disabled else None


def acting_as(session: Session, email: str) -> str:
    """The name the record gives the account of `email` (`email#2` for a later holder of a reissued
    address); `email` itself when there is no such account (the registry then refuses it)."""
    user = find_user(session, email)
    return user.acts_as if user is not None else normalise_email(email)


def get_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise UnknownUser(f"No user {normalise_email(email)}.")
    return user


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise BadRole(f"The role must be one of {', '.join(ROLES)}, not '{role[:30]}'.")


def create_user(session: Session, email: str, role: str, password: str | None = None) -> User:
    """A new user; without a password the user signs in only by SSO or the proxy."""
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError("Give an email address.")
    if len(email) > MAX_EMAIL_LENGTH:
        raise AccountError(f"Give an email address of at most {MAX_EMAIL_LENGTH} characters.")
    _check_role(role)
    if find_user(session, email) is not None:
        raise DuplicateUser(f"There is already a user {email}.")
    password_hash = None
    if password is not None:
        passwords.check_policy(password, email)
        password_hash = passwords.hash_password(password)
    user = User(email=email, role=role, password_hash=password_hash, disabled=False,
                actor=_actor_for_new_holder(session, email))
    session.add(user)
    session.flush()
    return user


def _actor_for_new_holder(session: Session, email: str) -> str | None:
    """None for an address's first account (it acts as its address); `email#N` for a later holder of
    an address a retired account acted under, so no record, job or result of theirs is ever taken
    for the newcomer's."""
    taken = set(session.scalars(select(User.actor).where(
        or_(User.actor == email, User.actor.startswith(f"{email}#", autoescape=True)))))
    if email not in taken:
        return None
    return next(f"{email}#{n}" for n in range(2, len(taken) + 3) if f"{email}#{n}" not in taken)


def _keep_an_admin(session: Session, user: User, what: str) -> None:
    """Refuse to leave the service with no active admin (no one could then manage its people)."""
    if user.role != "admin" or user.disabled:
        return
    others = session.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.disabled.is_(False), User.id != user.id))
    if not others:
        raise AccountError(f"{user.email} is the last active admin; make another admin before you {what} them.")


def set_role(session: Session, email: str, role: str, actor: str, client: str = "") -> User:
    _check_role(role)
    user = get_user(session, email)
    if role != "admin":
        _keep_an_admin(session, user, "change the role of")
    old, user.role = user.role, role
    bump_credentials(session)
    record(session, actor, "role_changed", f"{user.email}: {old} -> {role}", client)
    return user


def disable_user(session: Session, email: str, actor: str, client: str = "") -> User:
    user = get_user(session, email)
    _keep_an_admin(session, user, "disable")
    _disable(session, user)
    record(session, actor, "user_disabled", user.email, client)
    return user


def _disable(session: Session, user: User) -> None:
    """Disabled, signed out everywhere; every worker forgets what it remembers of the account's keys
    and sessions (a disabled user's keys stop working)."""
    user.disabled = True
    _revoke_sessions(session, user)
    bump_credentials(session)


def enable_user(session: Session, email: str, actor: str, client: str = "") -> User:
    """Undo `disable_user`: the person may sign in again (their keys work again; ended sessions stay ended)."""
    user = get_user(session, email)
    if user.retired_at is not None:
        raise AccountError(f"{user.email} is retired; a retired account is never enabled again.")
    user.disabled = False
    bump_credentials(session)
    record(session, actor, "user_enabled", user.email, client)
    return user


RETIRED_PREFIX = "retired#"


def retire_user(session: Session, email: str, actor: str, client: str = "") -> User:
    """Free `email` for a new person (a leaver's address, reissued): the account is disabled for
    good, its keys revoked and its sessions ended, and its email becomes `retired#<id>:<email>`.
    Its batches, jobs and results stay its own: it keeps the name it acted under (`acts_as`), and
    the address's next account acts as `email#2`, so it never sees them. Its single sign-on binding
    stays too: the leaver's identity still finds this disabled account, never the newcomer's."""
    user = get_user(session, email)
    _keep_an_admin(session, user, "retire")
    now = utcnow()
    user.actor, user.email = user.acts_as, f"{RETIRED_PREFIX}{user.id}:{user.email}"[:320]
    user.retired_at = now
    for key in keys_of(session, user.id):
        key.revoked_at = key.revoked_at or now
    _disable(session, user)
    record(session, actor, "user_retired", f"{user.actor} (account {user.id})", client)
    return user


def change_password(session: Session, user_id: int, current: str, new: str, *, keep_session: str | None = None) -> None:
    """A new password, once the current one is given. Every other sign-in session of the user ends
    (whoever else knew the old password is signed out); `keep_session` is the one this change came
    from. An account without a password signs in through single sign-on only: no password is added
    to it, which would outlive the provider's MFA and offboarding."""
    user = session.get(User, user_id)
    if user.password_hash is None:
        raise InvalidCredentials("This account signs in through single sign-on; it has no password here.")
    if not passwords.verify(user.password_hash, current):
        raise WrongCurrentPassword("The current password is not right.")
    passwords.check_policy(new, user.email)
    user.password_hash = passwords.hash_password(new)
    _revoke_sessions(session, user, except_hash=_sha256(keep_session) if keep_session else None)
    bump_credentials(session)  # other workers drop what they remember of the revoked sessions
    record(session, user.acts_as, "password_changed")


def _revoke_sessions(session: Session, user: User, *, except_hash: str | None = None) -> None:
    now = utcnow()
    for row in session.scalars(select(SignInSession).where(SignInSession.user_id == user.id,
                                                            SignInSession.revoked_at.is_(None))):
        if row.id_hash != except_hash:
            row.revoked_at = now


def authenticate(session: Session, email: str, password: str, client: str = "") -> User:
    """The user whose email and password these are; records the attempt either way."""
    user = find_user(session, email)
    ok = passwords.verify(user.password_hash if user else None, password)
    if not ok or user.disabled:
        record(session, normalise_email(email)[:320], "sign_in_failed", "", client)
        raise InvalidCredentials("The email or password is not right.")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    record(session, user.acts_as, "signed_in", "password", client)
    return user


def external_user(session: Session, email: str, role: str | None, how: str, client: str = "",
                  identity: tuple[str, str] | None = None, role_required: bool = False) -> User:
    """The user an identity provider or proxy vouches for. With a role (from the provider's claim)
    the user is created on first sign-in and the role kept in step; without one, the user must exist
    — unless `role_required` (the provider's groups decide the roles): then nobody without one signs
    in, an existing account included. `identity`, a provider's (issuer, subject): the account bound
    to it, whatever the email claim now says; else the email's account, which is then bound to it."""
    if identity:
        identity = (_issuer(identity[0]), identity[1])
    user = _bound_user(session, identity) if identity else None
    if user is None:
        user = find_user(session, email)
        if user is not None and how == "oidc" and user.password_hash is not None:
            # An email claim alone never opens a password account: some providers let users set it.
            raise InvalidCredentials("This account signs in with its password here, not through single sign-on.")
        if user is not None and identity and user.sso_subject is not None:
            # Bound to someone else's identity: an address reissued to a new person, or a second account.
            raise InvalidCredentials("This account belongs to another company identity; ask an admin.")
    if role is None and role_required:
        # Taken out of every mapped group at the provider: taken out here too, not left with the old
        # role (the caller then disables the account: `disable_without_role`).
        raise NoMappedRole("Your company account is in no group that has a role here; ask an admin.")
    if user is None:
        if role is None:
            raise InvalidCredentials(f"{normalise_email(email)} has no account here; ask an admin for one.")
        user = create_user(session, email, role)
        record(session, user.acts_as, "user_created", how, client)
    if identity and user.sso_subject is None:
        user.sso_issuer, user.sso_subject = identity
        session.flush()  # the unique index refuses a second account for one identity here, not at commit
        record(session, user.acts_as, "sso_linked", how, client)
    if role is not None and user.role != role:
        record(session, how, "role_changed", f"{user.email}: {user.role} -> {role}", client)
        user.role = role
        bump_credentials(session)
    if user.disabled:
        raise InvalidCredentials("This account is disabled.")
    record(session, user.acts_as, "signed_in", how, client)
    return user


def disable_without_role(session: Session, identity: tuple[str, str], client: str = "") -> User | None:
    """Disable the account bound to a provider identity that signed in with no mapped role: its API
    keys stop and its sessions end, as the provider's offboarding means (an admin enables it again).
    The last active admin is only refused, never disabled. Returns the account disabled, if any."""
    user = _bound_user(session, (_issuer(identity[0]), identity[1]))
    if user is None or user.disabled:
        return None
    try:
        _keep_an_admin(session, user, "disable")
    except AccountError:
        return None
    _disable(session, user)
    record(session, "oidc", "user_disabled", f"{user.acts_as}: in no mapped group at sign-in", client)
    return user


def settled_external_user(new_session, *args, **kwargs) -> User:
    """`external_user` in a unit of work of its own (`new_session()`), tried once more when a
    concurrent first sign-in (a second tab) made the account or took the identity meanwhile: the
    second attempt finds it instead of answering a unique-index violation."""
    try:
        with new_session() as session:
            return external_user(session, *args, **kwargs)
    except IntegrityError:
        pass  # the other sign-in committed first: this one now finds what it made
    with new_session() as session:
        return external_user(session, *args, **kwargs)


def _bound_user(session: Session, identity: tuple[str, str]) -> User | None:
    issuer, subject = identity
    return session.scalar(select(User).where(User.sso_issuer == issuer, User.sso_subject == subject))


def _issuer(issuer: str) -> str:
    return issuer.rstrip("/")  # `https://idp/realm/` and `https://idp/realm` are one provider


def unlink_sso(session: Session, email: str | None, actor: str, client: str = "", *,
               issuer: str | None = None, force: bool = False) -> list[User]:
    """Forget the company identity an account is bound to — `email`'s, or every account bound at
    `issuer` (a provider that changed its issuer or its subjects): the next single sign-on binds
    again, by email. Only for the same person under a new identity: an address reissued to someone
    else must never be unlinked, or the newcomer inherits the account, its keys and its records —
    that account is retired (`retire_user`). A disabled account (a leaver's, most likely) is
    unlinked only with `force`."""
    if email is not None:
        users = [get_user(session, email)]
        if users[0].disabled and not force:
            raise AccountError(f"{users[0].email} is disabled: if the address now belongs to someone else, retire "
                               "the account ('flask users retire'); to unlink it anyway, add --force.")
    else:
        bound = select(User).where(User.sso_issuer == _issuer(issuer or ""), User.retired_at.is_(None))
        users = list(session.scalars(bound if force else bound.where(User.disabled.is_(False))))  # as above
    for user in users:
        user.sso_issuer = user.sso_subject = None
        record(session, actor, "sso_unlinked", user.email, client)
    return users


# --- sign-in sessions --------------------------------------------------------------------------

def start_session(session: Session, user: User) -> str:
    """A new random session id (for the cookie); the table keeps only its hash."""
    session_id = secrets.token_urlsafe(32)
    session.add(SignInSession(id_hash=_sha256(session_id), user_id=user.id))
    return session_id


def resolve_session(session: Session, session_id: str, idle: timedelta, absolute: timedelta) -> User | None:
    """The session's user, or None when it is unknown, revoked, idle too long, too old, or its user
    disabled. Touches `last_seen_at`."""
    row = session.get(SignInSession, _sha256(session_id))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if now - _aware(row.last_seen_at) > idle or now - _aware(row.created_at) > absolute:
        row.revoked_at = now
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    if now - _aware(row.last_seen_at) > SEEN_WRITE_INTERVAL:
        row.last_seen_at = now
    return user


def end_session(session: Session, session_id: str) -> None:
    row = session.get(SignInSession, _sha256(session_id))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


# --- API keys ----------------------------------------------------------------------------------

def create_key(session: Session, email: str, name: str = "", actor: str | None = None,
               client: str = "", days: int | None = None) -> tuple[str, ApiKey]:
    """A new key for the user: the plaintext (to show once) and its row (which keeps only a hash).
    `days`: it stops working that long after (None or 0: never)."""
    user = get_user(session, email)
    if user.disabled:
        raise AccountError(f"{user.email} is disabled; enable them before giving them a key.")
    if days is not None and not 0 <= days <= MAX_KEY_DAYS:
        raise AccountError(f"A key's lifetime is a number of days from 1 to {MAX_KEY_DAYS:,} (0: it never expires).")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(user_id=user.id, name=name[:100], prefix=plaintext[:SHOWN_PREFIX_LENGTH], key_hash=_sha256(plaintext),
                 expires_at=utcnow() + timedelta(days=days) if days else None)
    session.add(key)
    session.flush()
    record(session, actor or user.acts_as, "key_created", f"{user.email}: {key.prefix}… {key.name}".strip(), client)
    return plaintext, key


def keys_of(session: Session, user_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)))


def revoke_key(session: Session, key: str | int, actor: str, client: str = "", owner_id: int | None = None) -> ApiKey:
    """Revoke by plaintext key (the CLI) or by id (the account page, limited to `owner_id`'s keys)."""
    if isinstance(key, int):
        row = session.get(ApiKey, key)
        if row is not None and owner_id is not None and row.user_id != owner_id:
            row = None
    else:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _sha256(key.strip())))
    if row is None:
        raise UnknownKey("No such key.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        bump_credentials(session)
        record(session, actor, "key_revoked", f"{row.prefix}…", client)
    return row


def user_for_key(session: Session, key: str) -> User | None:
    """The enabled user a live key belongs to, or None; touches `last_used_at`."""
    found = _live_key(session, key)
    return found[1] if found else None


def _live_key(session: Session, key: str) -> tuple[ApiKey, User] | None:
    if not key.startswith(KEY_PREFIX):
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _sha256(key)))
    now = utcnow()
    if row is None or row.revoked_at is not None or _expired(row, now):
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    if row.last_used_at is None or now - _aware(row.last_used_at) > SEEN_WRITE_INTERVAL:
        row.last_used_at = now
    return row, user


def key_state(row: ApiKey, now: datetime | None = None) -> str:
    """`revoked`, `expired` or `live`, as the account page shows a key."""
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if _expired(row, now or utcnow()) else "live"


def _expired(row: ApiKey, now: datetime) -> bool:
    return row.expires_at is not None and _aware(row.expires_at) <= now


# --- the key cache ---------------------------------------------------------------------------

KEY_TTL = 5.0  # seconds a worker trusts a key it checked, unless the credentials generation moved
GENERATION_TTL = 1.0  # seconds a worker trusts its last read of the generation: a revoke elsewhere is seen within it
_local_changes = 0  # this process's own revocations, seen at once (no waiting for the generation's TTL)


@dataclass(frozen=True)
class KeyOwner:
    """What a request needs of a key's user (a `User` row outlives no session)."""

    id: int
    email: str
    role: str
    expires: float = math.inf  # the key's end (epoch seconds): a remembered key is not trusted past it
    acts_as: str = ""  # the name the record knows the user by (`User.acts_as`)


def _key_end(row: ApiKey) -> float:
    return math.inf if row.expires_at is None else _aware(row.expires_at).timestamp()


def bump_credentials(session: Session) -> None:
    """Tell every worker's key cache that a key or user changed (in the caller's transaction)."""
    global _local_changes
    session.execute(update(CredentialsGeneration).where(CredentialsGeneration.id == 1)
                    .values(value=CredentialsGeneration.value + 1))
    _local_changes += 1


_GENERATION = select(CredentialsGeneration.value).where(CredentialsGeneration.id == 1)


class KeyCache:
    """Key -> owner, per process, so a request with a known key costs no database read. An entry
    lives KEY_TTL seconds; every entry is forgotten when the credentials generation (read at most
    once a second) or this process's own changes move. An expired entry is checked again in the
    database, which also writes `last_used_at` (at most once a minute)."""

    def __init__(self, database):
        self.database = database
        self._entries: dict[str, tuple[float, KeyOwner]] = {}
        self._seen: tuple[float, int, int] | None = None  # (read at, generation, local changes)
        self._lock = threading.Lock()

    def owner(self, key: str) -> KeyOwner | None:
        if not key.startswith(KEY_PREFIX):
            return None
        self._check_generation()
        digest = _sha256(key)
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is not None and now - entry[0] < KEY_TTL and time.time() < entry[1].expires:
            return entry[1]
        with self.database.session() as s:
            found = _live_key(s, key)
            owner = KeyOwner(found[1].id, found[1].email, found[1].role, _key_end(found[0]),
                             found[1].acts_as) if found else None
        with self._lock:
            if owner is None:
                self._entries.pop(digest, None)
            else:
                self._entries[digest] = (now, owner)
        return owner

    def _check_generation(self) -> None:
        now, seen = time.monotonic(), self._seen
        if seen is not None and now - seen[0] < GENERATION_TTL and seen[2] == _local_changes:
            return
        local = _local_changes
        with self.database.reader.connect() as connection:
            value = connection.execute(_GENERATION).scalar_one()
        with self._lock:
            if seen is None or seen[1] != value or seen[2] != local:
                self._entries.clear()
            self._seen = (now, value, local)


# --- first start -------------------------------------------------------------------------------

def bootstrap(session: Session, admin_email: str | None, admin_password: str | None) -> str | None:
    """With no users: create the configured admin, or return a new one-time setup token (None when a
    token was made moments ago, by another worker of this start)."""
    if count_users(session):
        return None
    if admin_email and admin_password:
        user = create_user(session, admin_email, "admin", admin_password)
        record(session, "system", "user_created", f"{user.email} (ADMIN_EMAIL)")
        return None
    existing = session.scalar(select(SetupToken))
    if existing is not None and utcnow() - _aware(existing.created_at) < timedelta(seconds=30):
        return None
    if existing is not None:
        session.delete(existing)
        session.flush()
    token = secrets.token_urlsafe(32)
    session.add(SetupToken(id=1, token_hash=_sha256(token)))
    return token


def complete_setup(session: Session, token: str, email: str, password: str, client: str = "") -> User:
    """Spend the one-time token on the first admin."""
    row = session.scalar(select(SetupToken))
    if row is None or count_users(session) or not secrets.compare_digest(row.token_hash, _sha256(token)):
        raise InvalidCredentials("This setup link is not valid (it works once, while there are no users).")
    user = create_user(session, email, "admin", password)
    session.delete(row)
    record(session, user.email, "user_created", "first admin, setup link", client)
    return user


def setup_token_valid(session: Session, token: str) -> bool:
    row = session.scalar(select(SetupToken))
    return row is not None and not count_users(session) and secrets.compare_digest(row.token_hash, _sha256(token))


# --- events ------------------------------------------------------------------------------------

def record(session: Session, actor: str, action: str, detail: str = "", client: str = "") -> Event:
    event = Event(actor=actor[:320], action=action, detail=detail[:1000], client=(client or "")[:64])
    session.add(event)
    return event


def events(session: Session, limit: int = 100, before_id: int | None = None) -> list[dict]:
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    return [{"id": e.id, "at": _aware(e.at).isoformat(), "actor": e.actor, "action": e.action,
             "detail": e.detail, "client": e.client} for e in session.scalars(query)]
