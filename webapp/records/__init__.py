"""The decision record: every scoring run is a batch, every row a decision, kept for the retention
period (Regulation B's 25 months) so each can be looked up, verified and re-scored exactly.

- `recorder`: `BatchStart` and `Recorder`, which the scoring service drives (add, complete, fail);
- `archive`: the records store, one immutable Arrow IPC file per batch (a small one kept in its row,
  as JSON for a few decisions; Parquet for large batches recorded before), named relative to the store;
- `digest`: the canonical serialisation, the SHA-256 chain, the `Loan_ID` key of the index;
- `index`: the index as derived data: a batch's (key, row) pairs, how the stored ones differ, a rebuild;
- `models`: the tables (batches, decision_index, deletions);
- `services`: lookups (a Loan_ID's decisions, a batch's), verify, reindex, purge, hold, release, export;
- `replay`: re-score a batch and compare.

May import: `webapp.db`, `webapp.core`, `webapp.stats`, `webapp.storage`, `webapp.utils`, SQLAlchemy,
pyarrow, pandas, numpy, fsspec (a store behind a URL). Never Flask.
"""
from webapp.records.recorder import PURPOSES, BatchStart, Recorder, RecordingClosed
from webapp.records.replay import ReplayReport, replay
from webapp.records.services import (
    DEFAULT_RETENTION_MONTHS,
    ArchiveUnavailable,
    BatchNotFound,
    BatchPurged,
    ChainHead,
    PurgeReport,
    RecordError,
    VerifyReport,
    as_datetime,
    batch_decisions,
    chain_head,
    decisions_for,
    export,
    get_batch,
    hold,
    index_pending,
    list_batches,
    purge,
    reindex,
    release,
    verify,
)

__all__ = [
    "DEFAULT_RETENTION_MONTHS",
    "PURPOSES",
    "ArchiveUnavailable",
    "BatchNotFound",
    "BatchPurged",
    "BatchStart",
    "ChainHead",
    "PurgeReport",
    "RecordError",
    "Recorder",
    "RecordingClosed",
    "ReplayReport",
    "VerifyReport",
    "as_datetime",
    "batch_decisions",
    "chain_head",
    "decisions_for",
    "export",
    "get_batch",
    "hold",
    "index_pending",
    "list_batches",
    "purge",
    "reindex",
    "release",
    "replay",
    "verify",
]
