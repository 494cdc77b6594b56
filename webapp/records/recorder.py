"""Recording a batch: `Recorder` streams the decisions into the batch's archive as they are scored
and, on `complete`, publishes the archive and writes the batch, its place in the digest chain and
its `Loan_ID` index in one transaction: a batch is recorded entirely or marked failed."""
from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from sqlalchemy import delete, update

from webapp.db import Database
from webapp.records import archive
from webapp.records.digest import (DataDigest, canonical_json, few_loan_keys, header_of, iso,  # noqa: F401 (re-exported)
                                   loan_keys)
from webapp.records.models import Batch, DecisionIndex
from webapp.records.publish import publish, write_index
from webapp.utils.threads import green

log = logging.getLogger(__name__)
CHANNELS = ("api", "page", "cli", "job")
INDEX_NOW_ROWS = 1_000  # up to this many rows, the index is written in the batch's own transaction
PURPOSES = ("decision", "analysis")


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

    def __init__(self, database: Database, start: BatchStart, *, store=None,
                 index_elsewhere: Callable[[str], None] | None = None):
        """`index_elsewhere(batch_id)`, when given, hands a large batch's index to another process
        (the jobs worker): writing a million index rows holds this process's GIL for seconds, which
        a web worker needs for the next request. Without it, or if it fails, a thread writes it."""
        self.database = database
        self.start = start
        self.index_elsewhere = index_elsewhere
        self.batch_id = uuid.uuid4().hex
        self.created_at = utcnow()
        self.store = store
        self._writer = archive.ArchiveWriter(archive.store_folder(store, database.url), self.batch_id)
        self._digest = DataDigest()
        self._keys: list[np.ndarray] = []
        self._all_keys = True  # every chunk's keys are in _keys
        self._rows: list[np.ndarray] = []
        self._counts = {"rows": 0, "scored": 0, "failed": 0}
        self._closed = self._failed = False
        self._pipeline = _Pipeline(self._write)
        self._indexer: threading.Thread | None = None
        self._index_seq: int | None = None  # a completed batch whose index is still to be written

    def add(self, decisions: pa.Table | archive.FewDecisions) -> None:
        """Record one scored chunk: a table, or a few decisions as lists in the stored schema. Large
        chunks are written by a thread of the batch's own, so the next chunk is scored meanwhile; a
        failure there surfaces at the next `add` or `complete`. Any failure (a full disk) marks the
        batch failed before it is raised."""
        self._check_open()
        try:
            self._pipeline.submit(decisions)
        except BaseException as exc:
            self.fail(failure_reason(exc))
            raise

    def _write(self, decisions: pa.Table | archive.FewDecisions) -> None:
        few = isinstance(decisions, archive.FewDecisions)
        table = decisions if few else archive.stored(decisions)  # few: made in the stored types
        self._writer.write(table)
        self._digest.update(table)
        if self.index_elsewhere is None or self._counts["rows"] <= INDEX_NOW_ROWS:
            self._keys.append(few_loan_keys(table.values["loan_id"]) if few else loan_keys(table["loan_id"]))
            self._rows.append(np.asarray(table.values["row"] if few else table["row"], dtype=np.int64))
        else:
            self._all_keys = False  # a large batch handed over is keyed where it is indexed
        failed = (sum(error is not None for error in table.values["error"]) if few else
                  table.num_rows - table["error"].null_count)
        self._counts["rows"] += table.num_rows
        self._counts["failed"] += failed
        self._counts["scored"] += table.num_rows - failed

    def complete(self, summary: dict, *, index_later: bool = True) -> None:
        """Publish the archive, then write the batch and its chain link in one transaction. The
        `Loan_ID` index of a small batch is written in that transaction too; a larger batch's on a
        thread right after (it costs about 1 s per million rows, and it is derived data: lookups
        read the archives of batches not yet indexed, and `index_pending` mends an interrupted one).
        `index_later=False` leaves starting that thread to the caller (`start_indexing`): a job
        worker first writes its job's end, which on SQLite would otherwise wait for the index's
        transaction to let go of the write lock."""
        self._check_open()
        try:
            self._pipeline.drain()
            path, data = self._writer.close()
            data_digest = self._digest.hexdigest()
            index_now = self._counts["rows"] <= INDEX_NOW_ROWS
            batch = SimpleNamespace(**self._fields("complete", summary, archive=self._writer.stored_name(path),
                                                   archive_data=data, data_digest=data_digest, indexed=index_now,
                                                   failure_reason=None))  # published by one INSERT: no ORM object
            publish(self.database, batch, self._sorted_keys() if index_now else None)
        except BaseException as exc:
            self.fail(failure_reason(exc))
            raise
        self._closed = True
        if not index_now and not self._handed_over():
            self._index_seq = batch.seq
            if index_later:
                self.start_indexing()

    @property
    def completed(self) -> bool:
        """The batch is published (a later failure elsewhere must not mark it failed)."""
        return self._closed and not self._failed

    def start_indexing(self) -> None:
        """Start writing a completed batch's index on a thread, once (a no-op for other batches)."""
        if self._index_seq is None or self._indexer is not None:
            return
        # Not a daemon: a command's process waits for it before exiting.
        self._indexer = threading.Thread(target=self._index_later, args=(self._index_seq,), name="record-index")
        self._indexer.start()

    def _handed_over(self) -> bool:
        if self.index_elsewhere is None:
            return False
        try:
            self.index_elsewhere(self.batch_id)
            return True
        except Exception:  # noqa: BLE001 - the queue is unreachable: index here instead
            log.warning("batch %s could not be handed over for indexing; indexing it here", self.batch_id)
            return False

    def wait_indexed(self, timeout: float | None = None) -> None:
        if self._indexer is not None:
            self._indexer.join(timeout)

    def _index_later(self, seq: int) -> None:
        try:
            if not self._all_keys:  # the handover failed after the keys were left to the other process
                from webapp.records.services import reindex

                reindex(self.database, self.batch_id, store=self.store)
                return
            index_batch(self.database, self.batch_id, seq, self._sorted_keys())
        except Exception:
            log.warning("indexing batch %s failed: lookups read its archive until index_pending mends it",
                        self.batch_id, exc_info=True)

    def _sorted_keys(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.concatenate(self._keys) if self._keys else np.empty(0, np.int64)
        rows = np.concatenate(self._rows) if self._rows else np.empty(0, np.int64)
        self._keys, self._rows = [], []
        order = np.lexsort((rows, keys))  # key order: the index's B-tree is filled left to right
        return keys[order], rows[order]

    def fail(self, reason: str) -> None:
        """Mark the batch failed (its partial archive removed). `reason` is stored: no personal data.
        A no-op once the batch has failed (`add` and `complete` fail it themselves on an error)."""
        if self._failed:
            return
        self._check_open()
        self._closed = self._failed = True
        self._pipeline.drain(raise_error=False)
        try:
            with self.database.session() as session:
                if session.get(Batch, self.batch_id) is not None:
                    # Published after all: PostgreSQL's publish commits by itself, and a connection lost
                    # after its commit raises too. The archive is the record's: keep it.
                    log.warning("batch %s was recorded before the error that followed it", self.batch_id)
                    self._writer.abandon(keep_published=True)
                    return
                self._writer.abandon()
                session.add(self._batch("failed", {}, failure_reason=reason[:2000]))
        except BaseException:
            self._writer.abandon(keep_published=True)  # the database cannot say whether the batch is in it:
            with contextlib.suppress(OSError):  # the records purge decides once it can
                self._writer.mark_in_doubt()
            raise

    def _check_open(self) -> None:
        if self._closed:
            raise RecordingClosed(f"batch {self.batch_id} is already closed")

    def _batch(self, status: str, summary: dict, **fields) -> Batch:
        return Batch(**self._fields(status, summary, **fields))

    def _fields(self, status: str, summary: dict, **fields) -> dict:
        start = dict(vars(self.start))  # shallow: asdict deep-copies
        start["options"] = canonical_json(start["options"])
        return dict(id=self.batch_id, created_at=self.created_at, completed_at=utcnow(), status=status, seq=None,
                    summary=canonical_json(summary), **start, **self._counts, prev_digest=None, digest=None,
                    digest_version=self._digest.version, **fields)


def failure_reason(exc: BaseException) -> str:
    """What went wrong, without the exception's message (a database error may quote row values)."""
    detail = f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else ""
    return f"recording failed: {type(exc).__name__}{detail}"


class _Pipeline:
    """Runs `work` on each chunk in order: inline for small chunks (a thread costs more than it
    saves), on one worker thread from the first large chunk on, with at most two chunks queued."""

    THREAD_ROWS = 20_000

    def __init__(self, work):
        self.work = work
        self.queue: queue.Queue | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._native = None  # under gevent: the chunk being written on a real thread of the hub's pool

    def submit(self, table) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None and self._native is None and table.num_rows < self.THREAD_ROWS:
            self.work(table)
            return
        if green():
            self._submit_native(table)
            return
        if self.thread is None:
            self.queue = queue.Queue(maxsize=2)
            self.thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
            self.thread.start()
        self.queue.put(table)

    def _submit_native(self, table: pa.Table) -> None:
        """Under gevent a `threading.Thread` is a greenlet and would not overlap scoring: write on a
        native thread of the hub's pool instead, one chunk at a time and in order."""
        import gevent

        self._wait_native()
        if self.error is not None:
            raise self.error
        self._native = gevent.get_hub().threadpool.spawn(self.work, table)

    def _wait_native(self) -> None:
        if self._native is not None:
            try:
                self._native.get()  # yields to other greenlets while the thread writes
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, as from the thread
                self.error = self.error or exc
            self._native = None

    def drain(self, raise_error: bool = True) -> None:
        self._wait_native()
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        if raise_error and self.error is not None:
            raise self.error

    def _run(self) -> None:
        while (table := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.work(table)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    self.error = exc


SQLITE_INDEX_STEP = 20_000  # index rows per SQLite transaction: its one writer is held ~40 ms at a time


def index_batch(database: Database, batch_id: str, seq: int, sorted_keys, *, replace: bool = False) -> None:
    """Write a complete batch's index and mark it indexed. `replace` deletes the rows it has first
    (mending an index that differs from the archive: a scan of the whole index, as nothing else is
    keyed by batch). Without it, rows an interrupted attempt left are kept: they are the same pairs,
    since an archive never changes, and a fresh batch's index is then never preceded by that scan.

    One transaction on PostgreSQL (so no attempt leaves rows there). SQLite has one writer: a million
    rows in one transaction held it for about 2 s, and every upload's record waited behind it; there
    the rows go in steps, and the batch is marked indexed only in the last (until then lookups read
    its archive, and a step that never came is finished by `index_pending`)."""
    keys, rows = sorted_keys
    if database.backend != "sqlite" or len(keys) <= SQLITE_INDEX_STEP:
        with database.session() as session:
            if replace:
                session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq == seq))
            write_index(session.connection(), sorted_keys, seq, existing_ok=True)
            session.execute(update(Batch).where(Batch.id == batch_id).values(indexed=True))
        return
    if replace:  # lookups read the archive while the rows are rewritten
        with database.session() as session:
            session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq == seq))
            session.execute(update(Batch).where(Batch.id == batch_id).values(indexed=False))
    for start in range(0, len(keys), SQLITE_INDEX_STEP):
        with database.session() as session:
            step = slice(start, start + SQLITE_INDEX_STEP)
            write_index(session.connection(), (keys[step], rows[step]), seq, existing_ok=True)
    with database.session() as session:
        session.execute(update(Batch).where(Batch.id == batch_id).values(indexed=True))


def utcnow() -> datetime:
    return datetime.now(UTC)
