"""The registry's tables: versions, the aliases pointing at them, the append-only alias history,
and the one-row generation counter every worker reads per request."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db.base import Base

CANDIDATE, APPROVED, RETIRED = "candidate", "approved", "retired"
STATUSES = (CANDIDATE, APPROVED, RETIRED)


class ModelVersion(Base):
    """One immutable artifact. Only the status and its approval/retirement stamps ever change."""

    __tablename__ = "model_versions"
    __table_args__ = (CheckConstraint("status IN ('candidate', 'approved', 'retired')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)  # the card's version: date + hash prefix
    name: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # two workers registering at once: one wins
    training_data_sha256: Mapped[str | None] = mapped_column(String(64))
    reason_table_sha256: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(Text)  # the artifact's URL in the model store; the card beside it
    card: Mapped[dict] = mapped_column(JSON)
    validation: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=CANDIDATE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(320))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(320))
    approval_note: Mapped[str | None] = mapped_column(Text)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(320))


class Alias(Base):
    """`champion` or `challenger` -> a version; a cleared challenger has no row."""

    __tablename__ = "aliases"
    __table_args__ = (CheckConstraint("name IN ('champion', 'challenger')", name="name"),)

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[str] = mapped_column(ForeignKey("model_versions.version"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AliasHistory(Base):
    """Every alias change, never updated or deleted: who, when, which alias, from, to, and why."""

    __tablename__ = "alias_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alias: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # first | promote | rollback | set | clear
    from_version: Mapped[str | None] = mapped_column(String(64))
    to_version: Mapped[str | None] = mapped_column(String(64))
    by: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text)


class Generation(Base):
    """One row (id 1) whose value grows with every alias change: a worker compares it per request."""

    __tablename__ = "model_registry_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
