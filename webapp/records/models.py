"""The decision record's tables. The decisions themselves live in one immutable archive per batch
(Arrow IPC or Parquet, see `archive`); the database holds each batch, an index from `Loan_ID` to its rows, the
deletion entries the retention purge leaves, and the holds (fields of the batch)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import Base


class Batch(Base):
    """One scoring run. `seq` is its place in the digest chain (complete batches only)."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    input_name: Mapped[str] = mapped_column(Text)
    input_sha256: Mapped[str] = mapped_column(String(64))
    input_size: Mapped[int] = mapped_column(BigInteger)
    input_format: Mapped[str] = mapped_column(String(20))
    options: Mapped[str] = mapped_column(Text)  # canonical JSON text: hashed as stored
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(200))
    model_sha256: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[float] = mapped_column(Float)
    code_version: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # complete | failed
    failure_reason: Mapped[str | None] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    scored: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    summary: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON text
    archive: Mapped[str | None] = mapped_column(Text)  # the archive file's name in the store, or else
    # A small batch's decisions (Arrow IPC), loaded only when read: listings never carry them.
    archive_data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    data_digest: Mapped[str | None] = mapped_column(String(64))
    prev_digest: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(64))
    digest_version: Mapped[str | None] = mapped_column(String(8))  # None: recorded before the column (v1)
    indexed: Mapped[bool] = mapped_column(Boolean, default=False)  # its decision_index rows are written
    hold_reason: Mapped[str | None] = mapped_column(Text)
    held_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Lookups read the archives of complete batches not yet indexed: a partial index finds those few.
    __table_args__ = (Index("ix_batches_unindexed", "status", sqlite_where=text("NOT indexed"),
                            postgresql_where=text("NOT indexed")),)


class DecisionIndex(Base):
    """Where each `Loan_ID` was decided: a 64-bit FNV-1a key of the ID (collisions only cost a read:
    lookups compare the ID itself in the archive), the batch's chain position and the row."""

    __tablename__ = "decision_index"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy reads it once

    loan_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    batch_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    row: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class Deletion(Base):
    """What the retention purge leaves of a batch, so the chain still verifies."""

    __tablename__ = "deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(32), unique=True)
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(BigInteger)
    scored: Mapped[int] = mapped_column(BigInteger)
    failed: Mapped[int] = mapped_column(BigInteger)
    data_digest: Mapped[str | None] = mapped_column(String(64))
    prev_digest: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(64))
    # The batch's header as its digest covered it (who, when, the input's name, the model, the counts
    # and the summary's aggregates; never a decision), and its digest version: verify recomputes the
    # digest from them and refuses an entry for a batch not yet due. None: purged before 0011.
    header: Mapped[str | None] = mapped_column(Text)
    digest_version: Mapped[str | None] = mapped_column(String(8))
