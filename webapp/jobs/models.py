"""The `jobs` table: one row per submitted job, its state, progress and outcome."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import Base

# "finishing": the worker is completing the job's batch record; past this point a cancel is refused,
# so a job's state and its batch always agree (a cancelled job never has a complete batch).
STATES = ("queued", "running", "finishing", "succeeded", "failed", "cancelled")
ENDED = ("succeeded", "failed", "cancelled")
WORKING = ("running", "finishing")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(320), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    options: Mapped[dict] = mapped_column(JSON)          # ScoringOptions.to_dict(), plus the engine for datasets
    input_name: Mapped[str] = mapped_column(Text)        # the upload's name (no path) or "dataset"
    input_location: Mapped[str | None] = mapped_column(Text)  # the stored upload, until the job ends
    source_url: Mapped[str | None] = mapped_column(Text)      # a dataset job's source (under JOB_SOURCES)
    json_input: Mapped[bool] = mapped_column(default=False)
    format: Mapped[str] = mapped_column(String(16))
    batch_id: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[dict | None] = mapped_column(JSON)     # the problem detail /score would have answered
    result_token: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    error_threshold: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
