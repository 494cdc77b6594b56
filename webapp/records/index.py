"""The `Loan_ID` index is derived data: a batch's index rows are exactly the (key, row) pairs of its
decisions, keyed by `digest.loan_keys` as the recorder keys them. Here: those pairs from an
archive's chunks, the pairs the table holds for a batch, how the two differ, and a rebuild.

Pairs are numpy arrays of `PAIR` in the index's order (key, then row): 16 bytes a row, so even a
batch of millions is compared in memory one batch at a time."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.db import Database
from webapp.records.digest import loan_keys
from webapp.records.models import DecisionIndex
from webapp.records.recorder import index_batch

PAIR = np.dtype([("key", "<i8"), ("row", "<i8")])
FETCH_ROWS = 100_000  # index rows read from the database at a time


def chunk_pairs(chunk: pa.Table) -> np.ndarray:
    """The pairs of one chunk of decisions, unsorted."""
    pairs = np.empty(chunk.num_rows, PAIR)
    pairs["key"] = loan_keys(chunk["loan_id"]) if chunk.num_rows else []
    pairs["row"] = np.asarray(chunk["row"], dtype=np.int64)
    return pairs


def in_order(parts: list[np.ndarray]) -> np.ndarray:
    pairs = np.concatenate(parts) if parts else np.empty(0, PAIR)
    return pairs[np.lexsort((pairs["row"], pairs["key"]))]


def stored_pairs(session: Session, seq: int) -> np.ndarray:
    """The pairs the index holds for the batch at `seq`, fetched part by part."""
    query = (select(DecisionIndex.loan_key, DecisionIndex.row).where(DecisionIndex.batch_seq == seq)
             .execution_options(yield_per=FETCH_ROWS))
    parts = []
    for part in session.execute(query).partitions():
        pairs = np.empty(len(part), PAIR)
        pairs["key"], pairs["row"] = np.array(part, dtype=np.int64).reshape(-1, 2).T
        parts.append(pairs)
    return in_order(parts)


def difference(expected: np.ndarray, stored: np.ndarray) -> str | None:
    """How the stored pairs differ from the expected ones, in counts (never a value: an ID is
    personal data); None when they are the same."""
    if np.array_equal(expected, stored):
        return None
    missing = np.setdiff1d(expected, stored, assume_unique=True)
    extra = np.setdiff1d(stored, expected, assume_unique=True)
    # A decision whose key is both missing and extra is indexed under another row number.
    moved = len(np.intersect1d(missing["key"], extra["key"]))
    counts = [(len(missing) - moved, "missing"), (len(extra) - moved, "extra"), (moved, "with a wrong row number")]
    return ", ".join(f"{n} row(s) {what}" for n, what in counts if n)


def rebuild(database: Database, batch_id: str, seq: int, expected: np.ndarray, *, replace: bool = True) -> None:
    """Write the batch's index rows from `expected` and mark it indexed (`recorder.index_batch`):
    replacing the rows it has, or (`replace=False`, a batch not yet indexed) adding what is missing."""
    index_batch(database, batch_id, seq, (np.ascontiguousarray(expected["key"]), np.ascontiguousarray(expected["row"])),
                replace=replace)
