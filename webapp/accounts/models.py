"""The accounts tables: users, API keys, sign-in sessions, the setup token and events."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db.base import Base


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None: signs in only by SSO or proxy
    role: Mapped[str] = mapped_column(String(20))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The company identity this account is bound to at its first single sign-on: the provider's
    # issuer and subject, the only claims OIDC promises are stable and never reassigned (Core 5.7).
    # An email claim finds the account once; after that a different person given the same address
    # (a leaver's, reissued) is refused.
    sso_issuer: Mapped[str | None] = mapped_column(String(255))
    sso_subject: Mapped[str | None] = mapped_column(String(255))
    # The name batches, jobs, results and events know this account by, where it is not the email:
    # a later holder of a reissued address is `email#2`, so the record never mixes two people; a
    # retired account keeps the address it acted under here (its email is then freed).
    actor: Mapped[str | None] = mapped_column(String(200))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_users_sso_identity", "sso_issuer", "sso_subject", unique=True),
                      Index("ix_users_actor", "actor", unique=True))

    @property
    def acts_as(self) -> str:
        """Who the record says acted, when this account did."""
        return self.actor or self.email


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(20))  # shown to people; not enough to use the key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex: keys are 256 random bits
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: never (keys made before 0009)


class SignInSession(Base):
    """A browser's signed-in session; the cookie carries the random id, the table only its hash, so a
    session can be expired (idle, absolute) and revoked on the server."""
    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SetupToken(Base):
    """The one-time first-start link's token (hashed); one row at most."""
    __tablename__ = "setup_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Event(Base):
    """Append-only: rows are inserted, never updated or deleted (no code path does either)."""
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))  # an email; for a failed sign-in, the one tried
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text, default="")  # never a password, key or session id
    client: Mapped[str] = mapped_column(String(64), default="")


class CredentialsGeneration(Base):
    """One row (id 1) whose value grows whenever a key is revoked or a user disabled or given another
    role: each worker's key cache compares it at most once a second and forgets its keys when it moved."""
    __tablename__ = "credentials_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
