"""Recording a batch: `Recorder` streams the decisions into the batch's archive as they are scored
and, on `complete`, publishes the archive and writes the batch, its place in the digest chain and
its `Loan_ID` index in one transaction: a batch is recorded entirely or marked failed."""
from __future__ import annotations

import io
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import func, select, text, union_all
from sqlalchemy.orm import Session

from webapp.db import Database
from webapp.records import archive
from webapp.records.digest import GENESIS, DataDigest, batch_digest, canonical_json, loan_keys
from webapp.records.models import Batch, Deletion

CHANNELS = ("api", "page", "cli", "job")
PURPOSES = ("decision", "analysis")
CHAIN_LOCK = 21_0001  # PostgreSQL advisory lock: one batch at a time takes the chain's next link


@dataclass(frozen=True)
class BatchStart:
    """What is known of a batch before scoring starts."""

    actor: str
    channel: str
    purpose: str
    input_name: str
    input_sha256: str
    input_size: int
    input_format: str
    options: dict = field(default_factory=dict)
    model_name: str = ""
    model_version: str = ""
    model_sha256: str = ""
    threshold: float = 0.5
    code_version: str = ""

    def __post_init__(self):
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
        if self.purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")


class RecordingClosed(RuntimeError):
    """`add`, `complete` or `fail` after the batch was completed or failed."""


class Recorder:
    """One batch's recording. Use: `add` each scored chunk in input order, then `complete` or `fail`."""

    def __init__(self, database: Database, start: BatchStart, *, store=None):
        self.database = database
        self.start = start
        self.batch_id = uuid.uuid4().hex
        self.created_at = utcnow()
        self._writer = archive.ArchiveWriter(archive.store_folder(store, database.url), self.batch_id)
        self._digest = DataDigest()
        self._keys: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._counts = {"rows": 0, "scored": 0, "failed": 0}
        self._closed = False

    def add(self, decisions: pa.Table) -> None:
        self._check_open()
        table = archive.normalise(decisions)
        self._writer.write(table)
        self._digest.update(table)
        self._keys.append(loan_keys(table["loan_id"]))
        self._rows.append(np.asarray(table["row"], dtype=np.int64))
        failed = table.num_rows - pc.sum(pc.is_null(table["error"]).cast(pa.int64())).as_py() if table.num_rows else 0
        self._counts["rows"] += table.num_rows
        self._counts["failed"] += failed
        self._counts["scored"] += table.num_rows - failed

    def complete(self, summary: dict) -> None:
        self._check_open()
        try:
            path = self._writer.close()
            data_digest = self._digest.hexdigest()
            with self.database.session() as session:
                batch = self._batch("complete", summary, archive=str(path), data_digest=data_digest)
                take_next_link(session, batch)
                session.add(batch)
                session.flush()
                self._write_index(session, batch.seq)
        except BaseException:
            self.fail("recording failed")
            raise
        self._closed = True

    def fail(self, reason: str) -> None:
        """Mark the batch failed (its partial archive removed). `reason` is stored: no personal data."""
        self._check_open()
        self._closed = True
        self._writer.abandon()
        self._writer.path.unlink(missing_ok=True)  # published, but the transaction did not commit
        with self.database.session() as session:
            existing = session.get(Batch, self.batch_id)
            if existing is None:
                session.add(self._batch("failed", {}, failure_reason=reason[:2000]))

    def _check_open(self) -> None:
        if self._closed:
            raise RecordingClosed(f"batch {self.batch_id} is already closed")

    def _batch(self, status: str, summary: dict, **fields) -> Batch:
        start = asdict(self.start)
        start["options"] = canonical_json(start["options"])
        return Batch(id=self.batch_id, created_at=self.created_at, completed_at=utcnow(), status=status,
                     summary=canonical_json(summary), **start, **self._counts, **fields)

    def _write_index(self, session: Session, seq: int) -> None:
        if not self._keys:
            return
        keys = np.concatenate(self._keys)
        rows = np.concatenate(self._rows)
        order = np.lexsort((rows, keys))  # key order: the index's B-tree is filled left to right
        keys, rows = keys[order], rows[order]
        if session.bind.dialect.name == "postgresql":
            _copy_index(session, keys, rows, seq)
        else:
            _executemany_index(session, keys, rows, seq)


def _executemany_index(session: Session, keys: np.ndarray, rows: np.ndarray, seq: int) -> None:
    """sqlite3's executemany straight from tuples: several times faster than SQLAlchemy's insert."""
    cursor = session.connection().connection.dbapi_connection.cursor()
    try:
        cursor.executemany("INSERT INTO decision_index (loan_key, batch_seq, row) VALUES (?, ?, ?)",
                           zip(keys.tolist(), [seq] * len(keys), rows.tolist()))
    finally:
        cursor.close()


def _copy_index(session: Session, keys: np.ndarray, rows: np.ndarray, seq: int) -> None:
    """PostgreSQL COPY of a CSV that pyarrow writes in C."""
    buffer = io.BytesIO()
    table = pa.table({"loan_key": keys, "batch_seq": np.full(len(keys), seq, dtype=np.int64), "row": rows})
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    cursor = session.connection().connection.dbapi_connection.cursor()
    with cursor.copy("COPY decision_index (loan_key, batch_seq, row) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())


def take_next_link(session: Session, batch: Batch) -> None:
    """Give `batch` the chain's next position and its predecessor's digest, under a lock so two
    batches never claim the same predecessor (SQLite: the transaction began IMMEDIATE, one writer)."""
    if session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    last_seq, last_digest = last_link(session)
    batch.seq = last_seq + 1
    batch.prev_digest = last_digest
    batch.digest = batch_digest(batch.prev_digest, header_of(batch), batch.data_digest)


def last_link(session: Session) -> tuple[int, str]:
    links = union_all(select(Batch.seq, Batch.digest).where(Batch.seq.is_not(None)),
                      select(Deletion.seq, Deletion.digest).where(Deletion.seq.is_not(None))).subquery()
    last = session.execute(select(func.max(links.c.seq))).scalar()
    if last is None:
        return 0, GENESIS
    return last, session.execute(select(links.c.digest).where(links.c.seq == last)).scalar_one()


HEADER_FIELDS = ("id", "seq", "created_at", "actor", "channel", "purpose", "input_name", "input_sha256",
                 "input_size", "input_format", "options", "model_name", "model_version", "model_sha256",
                 "threshold", "code_version", "rows", "scored", "failed", "summary")


def header_of(batch: Batch) -> str:
    """The batch's fields that the digest covers, as canonical JSON (the time to the microsecond, UTC)."""
    values = {name: getattr(batch, name) for name in HEADER_FIELDS}
    values["created_at"] = iso(batch.created_at)
    values["threshold"] = float(batch.threshold).hex()
    return canonical_json(values)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """UTC, microseconds, `Z`: SQLite gives times back without their zone, PostgreSQL with it."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
