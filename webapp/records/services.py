"""The record's operations: lookups, the chain's verification, retention (purge, hold, release) and
export. Each takes a session (or the database when it opens transactions of its own)."""
from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import delete, func, null, select, union_all
from sqlalchemy.orm import Session

from webapp.db import Database
from webapp.records import archive, index
from webapp.records.digest import GENESIS, VERSIONS, DataDigest, batch_digest, loan_key, version_of
from webapp.records.models import Batch, DecisionIndex, Deletion
from webapp.storage import modified_at
from webapp.records.recorder import header_of, iso, utcnow

DEFAULT_RETENTION_MONTHS = 25
PENDING_AGE = timedelta(minutes=10)  # an indexing thread older than this has died


class RecordError(Exception):
    """A lookup or operation the record refuses; `status` is the HTTP status it maps to."""

    status = 400
    code = "record-error"


class BatchNotFound(RecordError):
    status = 404
    code = "batch-not-found"


class BatchPurged(RecordError):
    status = 410
    code = "batch-purged"


class ArchiveUnavailable(RecordError):
    """A batch's archive cannot be read (the store is down, or the file is gone): answered 503, never
    with the decisions of the other batches alone, which would look like the whole record."""

    status = 503
    code = "records-store-unavailable"


# --- lookups -------------------------------------------------------------------------------------

def batch_fields(batch: Batch) -> dict:
    return {"batch_id": batch.id, "created_at": iso(batch.created_at), "status": batch.status,
            "failure_reason": batch.failure_reason, "actor": batch.actor, "channel": batch.channel,
            "purpose": batch.purpose,
            "input": {"name": batch.input_name, "sha256": batch.input_sha256, "size": batch.input_size,
                      "format": batch.input_format},
            "options": json.loads(batch.options),
            "model": {"name": batch.model_name, "version": batch.model_version, "sha256": batch.model_sha256},
            "threshold": batch.threshold, "code_version": batch.code_version,
            "counts": {"rows": batch.rows, "scored": batch.scored, "failed": batch.failed},
            "digest": batch.digest, "digest_version": version_of(batch) if batch.digest else None,
            "hold": {"reason": batch.hold_reason, "since": iso(batch.held_at)} if batch.hold_reason else None}


def get_batch(session: Session, batch_id: str, *, owner: str | None = None) -> dict:
    """A batch's fields and its summary; `BatchNotFound` or `BatchPurged` otherwise. With `owner`,
    a batch someone else ran is `BatchNotFound`, as if it did not exist; a purged one is
    `BatchPurged` to its owner as the entry's header names them (an entry without one tells no one
    but those who see every batch that it existed)."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        deletion = session.execute(select(Deletion).where(Deletion.batch_id == batch_id)).scalar_one_or_none()
        if deletion is not None and (owner is None or _purged_actor(deletion) == owner):
            raise BatchPurged(f"Batch {batch_id} was purged on {iso(deletion.purged_at)[:10]} (retention).")
        raise BatchNotFound(f"There is no batch {batch_id}.")
    if owner is not None and batch.actor != owner:
        raise BatchNotFound(f"There is no batch {batch_id}.")
    return {**batch_fields(batch), "summary": json.loads(batch.summary)}


def complete_batch(session: Session, batch_id: str) -> Batch:
    """The complete batch `batch_id` (its row), else `BatchPurged` or `BatchNotFound`: for commands,
    which see every batch."""
    batch = session.get(Batch, batch_id)
    if batch is None or batch.status != "complete":
        if session.execute(select(Deletion.id).where(Deletion.batch_id == batch_id)).first():
            raise BatchPurged(f"Batch {batch_id} was purged (retention).")
        raise BatchNotFound(f"There is no complete batch {batch_id}.")
    return batch


def _purged_actor(deletion: Deletion) -> str | None:
    """Who ran a purged batch, from the header its deletion entry keeps (None without one)."""
    try:
        return json.loads(deletion.header)["actor"] if deletion.header else None
    except (ValueError, KeyError, TypeError):  # an entry changed by hand: verify names it
        return None


def list_batches(session: Session, *, since: datetime | date | None = None, until: datetime | date | None = None,
                 actor: str | None = None, purpose: str | None = None, page: int = 1, per_page: int = 50) -> dict:
    """Batches newest first, one page of them, with the total that match."""
    page, per_page = max(page, 1), min(max(per_page, 1), 500)
    query = select(Batch)
    if since is not None:
        query = query.where(Batch.created_at >= as_datetime(since))
    if until is not None:
        query = query.where(Batch.created_at < as_datetime(until))
    if actor is not None:  # "" is no one, never everyone
        query = query.where(Batch.actor == actor)
    if purpose:
        query = query.where(Batch.purpose == purpose)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    batches = session.execute(query.order_by(Batch.created_at.desc(), Batch.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).scalars()
    return {"batches": [batch_fields(b) for b in batches], "page": page, "per_page": per_page, "total": total}


def decisions_for(session: Session, loan_id: str | tuple[str, ...], *, actor: str | None = None,
                  store=None) -> list[dict]:
    """Every complete decision for `loan_id` (or for any of several spellings of it), newest first
    (by `actor` only, when given). `store`: the records store as configured now (`RECORDS_URL`),
    where the batch rows' archive names lead."""
    loan_ids = (loan_id,) if isinstance(loan_id, str) else tuple(dict.fromkeys(loan_id))
    indexed = (select(Batch.id, DecisionIndex.row).join(DecisionIndex, DecisionIndex.batch_seq == Batch.seq)
               .where(DecisionIndex.loan_key.in_([loan_key(i) for i in loan_ids]), Batch.status == "complete"))
    pending = select(Batch.id, null().label("row")).where(Batch.status == "complete", Batch.indexed.is_(False))
    if actor is not None:  # "" is no one, never everyone
        indexed, pending = indexed.where(Batch.actor == actor), pending.where(Batch.actor == actor)
    # One statement, so one snapshot on PostgreSQL too: read as two, a batch whose index committed
    # between them was in neither.
    rows_by_id: dict[str, list[int] | None] = {}
    for batch_id, row in session.execute(union_all(indexed, pending)):
        if row is None:
            rows_by_id[batch_id] = None  # not indexed yet: its archive is read whole
        elif rows_by_id.get(batch_id, []) is not None:
            rows_by_id.setdefault(batch_id, []).append(row)
    batches = session.scalars(select(Batch).where(Batch.id.in_(rows_by_id))).all() if rows_by_id else []
    rows_by_batch = {batch.id: (batch, rows_by_id[batch.id]) for batch in batches}
    found = []
    for batch, rows in rows_by_batch.values():
        table = _read(session, batch, store, rows)
        table = table.filter(pc.is_in(table["loan_id"], pa.array(loan_ids, pa.string())))  # keys may collide; IDs not
        found += [_decision(batch, record) for record in table.to_pylist()]
    found.sort(key=lambda d: (d["created_at"], d["batch_id"], -d["row"]), reverse=True)
    return found


def batch_decisions(session: Session, batch_id: str, actions: tuple[str, ...] | None = None, *,
                    store=None) -> tuple[dict, list[dict]]:
    """A complete batch's fields and its decisions in row order (those whose action is in `actions`,
    when given); `BatchNotFound` (or `BatchPurged`) for a batch that is not complete."""
    fields = get_batch(session, batch_id)
    if fields["status"] != "complete":
        raise BatchNotFound(f"Batch {batch_id} is not complete ({fields['status']}); it has no decisions.")
    batch = session.get(Batch, batch_id)
    table = _read(session, batch, store)
    if actions is not None and table.num_rows:
        table = table.filter(_action_in(table, actions))
    return fields, [_decision(batch, record) for record in table.to_pylist()]


def _read(session: Session, batch: Batch, store, rows: list[int] | None = None) -> pa.Table:
    """The batch's decisions (those at `rows`, when given) from its archive; `ArchiveUnavailable`
    when it cannot be read."""
    with _reading(batch.id):
        return archive.read(_location(session, batch.archive, store), batch.archive_data, rows)


@contextlib.contextmanager
def _reading(batch_id: str):
    """Reading a batch's archive: a store that fails is `ArchiveUnavailable`, named by the error's
    type only (its text may quote a path or a value)."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveUnavailable(f"The archive of batch {batch_id} cannot be read right now "
                                 f"({type(exc).__name__}); try again later, and if it stays so, run "
                                 "`flask records verify`.") from None


def _location(session: Session, stored: str | None, store) -> str | None:
    """Where a batch row's archive is: under `store`, else beside the SQLite file (as the Recorder)."""
    return archive.locate(stored, store, str(session.get_bind().url))


def _action_in(table: pa.Table, actions: tuple[str, ...]):
    if "action" in table.column_names:
        return pc.fill_null(pc.is_in(table["action"], pa.array(actions, pa.string())), False)
    derived = [status for status, action in ((archive.APPROVED, "approve"), (archive.DECLINED, "decline"))
               if action in actions]  # an archive older than the column: from the status
    return pc.fill_null(pc.is_in(table["status"], pa.array(derived, pa.string())), False)


def index_pending(database: Database, older_than: timedelta | None = None, *, store=None) -> list[str]:
    """Write the index of complete batches whose indexing never finished (a killed worker, a lost
    task), once older than `older_than` (default PENDING_AGE: before that it may still be under way)."""
    cutoff = utcnow() - (PENDING_AGE if older_than is None else older_than)
    with database.session() as session:
        pending = session.execute(select(Batch.id, Batch.seq, Batch.archive, Batch.archive_data).where(
            Batch.status == "complete", Batch.indexed.is_(False), Batch.completed_at < cutoff)).all()
    for batch_id, seq, stored, data in pending:
        location = archive.locate(stored, store, database.url)
        index.rebuild(database, batch_id, seq, _archive_pairs(location, data), replace=False)  # a partial attempt finished
    return [batch_id for batch_id, *_ in pending]


def reindex(database: Database, batch_id: str | None = None, *, store=None) -> list[str]:
    """Rebuild the `Loan_ID` index from the archives: of `batch_id`, or else of every indexed batch
    whose index differs from its decisions and of those whose indexing never finished. Returns the
    batches rebuilt (the index is derived data: this loses nothing)."""
    with database.session() as session:
        query = select(Batch.id, Batch.seq, Batch.archive, Batch.indexed).where(Batch.status == "complete")
        if batch_id is not None:
            get_batch(session, batch_id)  # BatchNotFound, BatchPurged
            query = query.where(Batch.id == batch_id)
        batches = session.execute(query.order_by(Batch.seq)).all()
    if batch_id is not None and not batches:
        raise BatchNotFound(f"Batch {batch_id} is not complete; it has no decisions to index.")
    rebuilt = []
    for entry_id, seq, stored, indexed in batches:
        if batch_id is None and not indexed:
            continue  # its thread may still be writing it: index_pending below, once it is old enough
        expected = _archive_pairs(archive.locate(stored, store, database.url),
                                  _archive_data(database, entry_id) if stored is None else None)
        if batch_id is None:
            with database.read_session() as session:
                if index.difference(expected, index.stored_pairs(session, seq)) is None:
                    continue
        index.rebuild(database, entry_id, seq, expected, replace=indexed)  # a fresh batch: no scan for its rows
        rebuilt.append(entry_id)
    if batch_id is None:
        with database.session() as session:
            stray = stray_index_positions(session)
            if stray:
                session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq.in_(stray)))
    return rebuilt + (index_pending(database, store=store) if batch_id is None else [])


def _archive_pairs(location: str | None, data: bytes | None) -> np.ndarray:
    chunks = archive.chunks(location, data, ["loan_id", "row"])
    return index.in_order([index.chunk_pairs(chunk) for chunk in chunks])


def _decision(batch: Batch, record: dict) -> dict:
    reasons = [{"code": code, "contribution": contribution}
               for code, contribution in zip(record["reason_codes"] or [], record["reason_contributions"] or [])]
    inputs = {name[len(archive.INPUT_PREFIX):]: value for name, value in record.items()
              if name.startswith(archive.INPUT_PREFIX)}
    return {"batch_id": batch.id, "row": record["row"], "loan_id": record["loan_id"],
            "created_at": iso(batch.created_at), "actor": batch.actor, "purpose": batch.purpose,
            "model_version": batch.model_version, "status": record["status"], "probability": record["probability"],
            "threshold": batch.threshold, "action": archive.action_of(record), "reasons": reasons, "inputs": inputs,
            "error": record["error"]}


def as_datetime(moment: datetime | date) -> datetime:
    """In UTC: a date is its midnight UTC, a time without a zone is UTC, any other zone converted (the
    times are stored in UTC, and SQLite compares them as text: an offset left on would be ignored)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- verification --------------------------------------------------------------------------------

@dataclass
class VerifyReport:
    checked: int = 0
    first_bad: str | None = None  # the first batch whose digest or link differs: the chain is broken there
    problem: str | None = None
    # batch id -> how its index differs from its decisions (derived data: `reindex` mends it)
    index_problems: dict[str, str] = field(default_factory=dict)
    stray_index: list[int] = field(default_factory=list)  # chain positions with index rows but no batch
    # Deletion entries without the header that checks them: only purges before migration 0011 made
    # such entries, so where none ran, every one listed here is a batch removed by hand. They fail
    # the check unless accepted (`accept_unchecked_deletions`: such purges are known to have run).
    unchecked_deletions: list[str] = field(default_factory=list)
    unchecked_deletions_accepted: bool = False

    @property
    def ok(self) -> bool:
        return (self.first_bad is None and not self.index_problems and not self.stray_index
                and (not self.unchecked_deletions or self.unchecked_deletions_accepted))


@dataclass(frozen=True)
class ChainHead:
    """The chain's last link: kept outside the database (a ticket, a write-once bucket, a signed
    e-mail), it lets `verify` prove later that no batch after or before it was removed or rewritten,
    which a chain checked only against itself cannot (whoever can write the database can rebuild it)."""

    seq: int
    digest: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.digest}"

    @classmethod
    def parse(cls, text: str) -> "ChainHead":
        found = _CHAIN_HEAD.fullmatch(text.strip())
        if found is None:
            raise RecordError("A chain head is SEQ:DIGEST, as `flask records head` prints it.")
        return cls(int(found[1]), found[2])


_CHAIN_HEAD = re.compile(r"([0-9]{1,18}):([0-9a-f]{64})")


def chain_head(database: Database) -> ChainHead | None:
    """The last link of the chain (a batch or a purged batch's deletion entry), None before any."""
    with database.read_session() as session:
        links = [session.execute(select(model.seq, model.digest).where(model.seq.is_not(None))
                                 .order_by(model.seq.desc()).limit(1)).first() for model in (Batch, Deletion)]
    links = [link for link in links if link is not None]
    return ChainHead(*max(links)) if links else None


def verify(database: Database, batch_id: str | None = None, *, store=None,
           anchor: ChainHead | None = None, as_of: datetime | date | None = None,
           retention_months: int = DEFAULT_RETENTION_MONTHS,
           accept_unchecked_deletions: bool = False) -> VerifyReport:
    """Recompute each complete batch's digest from its archive and its link to the one before it
    (a purged batch's deletion entry stands in for it: its digest is recomputed from the header it
    keeps, and the batch must have been due for purging as of `as_of`, today by default, after
    `retention_months`); stop at the first that differs. Each indexed batch's index rows are compared
    with its decisions' (key, row) pairs on the way; an index that differs is reported and the
    chain's check goes on. `anchor`, a head kept elsewhere: the chain must still hold it, at its place.
    Deletion entries that keep no header (purges before migration 0011) fail the check unless
    `accept_unchecked_deletions`."""
    report = VerifyReport(unchecked_deletions_accepted=accept_unchecked_deletions)
    # At most Regulation B's 25 months: batches purged lawfully before the setting was raised still verify.
    due_before = months_before(as_datetime(as_of or utcnow()), min(retention_months, DEFAULT_RETENTION_MONTHS))
    # A read: on SQLite it never holds the write lock, so scoring goes on while a long check runs (under
    # WAL it sees the chain as it was when it began; batches published meanwhile are checked next time).
    with database.read_session() as session:
        previous = GENESIS
        chain = _chain(session)
        if anchor is not None and not _holds(chain, anchor, report):
            return report
        for kind, entry_id, entry in chain:
            if batch_id is None or entry_id == batch_id:
                problem, index_problem = _check(session, kind, entry, previous, store, due_before)
                report.checked += 1
                if kind == "deletion" and entry.header is None:
                    report.unchecked_deletions.append(entry_id)
                if index_problem:
                    report.index_problems[entry_id] = index_problem
                if problem:
                    report.first_bad, report.problem = entry_id, problem
                    return report
            if kind == "batch":
                session.expire(entry, ["archive_data"])  # one small archive in memory at a time
            previous = entry.digest
        if batch_id is None:
            report.stray_index = stray_index_positions(session)
    if batch_id is not None and report.checked == 0:
        report.first_bad, report.problem = batch_id, "no complete batch has this id"
    return report


def _holds(chain: list, anchor: ChainHead, report: VerifyReport) -> bool:
    """Whether the chain holds the anchored head at its place (else the report says what happened)."""
    at = next(((entry_id, entry) for _, entry_id, entry in chain if entry.seq == anchor.seq), None)
    if at is None:
        report.first_bad = f"seq {anchor.seq}"
        report.problem = ("the chain no longer reaches the anchored head: the batches up to it were removed"
                          if not chain or chain[-1][2].seq < anchor.seq else
                          "the anchored head's place in the chain is empty: a batch was removed")
        return False
    if at[1].digest != anchor.digest:
        report.first_bad, report.problem = at[0], "its digest is not the anchored head's: the chain was rewritten"
        return False
    return True


def stray_index_positions(session: Session) -> list[int]:
    """Chain positions that index rows point to but no complete batch holds (a purge removes a
    batch's rows with it, so these come only from a fault or a hand's edit): lookups ignore them."""
    published = select(Batch.seq).where(Batch.seq.is_not(None))
    query = select(DecisionIndex.batch_seq).where(DecisionIndex.batch_seq.not_in(published)).distinct()
    return sorted(session.execute(query).scalars())


def _chain(session: Session) -> list[tuple[str, str, Batch | Deletion]]:
    """(kind, batch id, entry) in chain order: the complete batches and the deletion entries."""
    batches = session.execute(select(Batch)
                              .where(Batch.seq.is_not(None))).scalars().all()
    deletions = session.execute(select(Deletion).where(Deletion.seq.is_not(None))).scalars().all()
    links = [("batch", b.id, b) for b in batches] + [("deletion", d.batch_id, d) for d in deletions]
    return sorted(links, key=lambda link: link[2].seq)


def _check(session: Session, kind: str, entry, previous: str, store,
           due_before: datetime) -> tuple[str | None, str | None]:
    """(what differs in the entry's link or digest, what differs in its index), None when nothing."""
    if entry.prev_digest != previous:
        return "its link to the previous batch does not match (a batch was removed or reordered)", None
    if kind == "deletion":
        return _deletion_problem(entry, due_before), None
    if entry.status != "complete":  # only complete batches are chained: lookups and exports skip others
        return f"its status was changed to {entry.status!r} (a chained batch is complete)", None
    if version_of(entry) not in VERSIONS:
        return f"its digest version {version_of(entry)!r} is none this code makes (the field was changed)", None
    try:
        location = _location(session, entry.archive, store)
        data_digest, expected = _read_archive(location, entry.archive_data, pairs=entry.indexed,
                                              version=version_of(entry))
    except (OSError, pa.ArrowException):  # gone, or cut short or changed past reading
        return "its archive is missing or unreadable", None
    if data_digest != entry.data_digest:
        return "its decisions differ from those recorded (the archive was changed)", None
    if batch_digest(entry.prev_digest, header_of(entry), data_digest, version_of(entry)) != entry.digest:
        return "its recorded fields differ from those recorded", None
    if expected is None:  # not indexed yet: lookups read its archive
        return None, None
    return None, index.difference(expected, index.stored_pairs(session, entry.seq))


def _deletion_problem(entry: Deletion, due_before: datetime) -> str | None:
    """What is wrong with a deletion entry: one that is not the batch it stands for (its header and
    data digest do not make its digest), or one for a batch still within its retention — what a batch
    removed by hand, behind an entry copied from its row, looks like. Entries purged before 0011 keep
    no header: only their link is checked, and `verify` lists them (`unchecked_deletions`)."""
    if entry.header is None:
        return None
    version = entry.digest_version or "v1"
    if version not in VERSIONS:
        return f"its digest version {version!r} is none this code makes (the entry was changed by hand)"
    if batch_digest(entry.prev_digest, entry.header, entry.data_digest, version) != entry.digest:
        return "its deletion entry is not the batch it stands for (the entry was made or changed by hand)"
    created = as_datetime(datetime.fromisoformat(json.loads(entry.header)["created_at"].replace("Z", "+00:00")))
    if created >= due_before:
        return (f"it was deleted before its retention ran out (created {iso(created)}; batches before "
                f"{iso(due_before)} are due)")
    return None


def _read_archive(location: str | None, data: bytes | None, *, pairs: bool,
                  version: str) -> tuple[str, np.ndarray | None]:
    """The archive's data digest (in the batch's digest version) and, when asked, its index pairs:
    one pass over the archive."""
    digest, parts = DataDigest(version), []
    for chunk in archive.chunks(location, data):
        digest.update(chunk)
        if pairs:
            parts.append(index.chunk_pairs(chunk))
    return digest.hexdigest(), index.in_order(parts) if pairs else None


# --- retention -----------------------------------------------------------------------------------

def months_before(moment: datetime, months: int) -> datetime:
    """The same day `months` earlier (the month's last day when it has no such day)."""
    import calendar

    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass
class PurgeReport:
    purged: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    cutoff: datetime | None = None
    strays: list[str] = field(default_factory=list)  # archive files no complete batch names, removed


PURGE_STEP = 500  # batches per transaction: memory and bound parameters stay bounded, whatever is due


def purge(database: Database, as_of: datetime | date | None = None,
          retention_months: int = DEFAULT_RETENTION_MONTHS, *, store=None) -> PurgeReport:
    """Delete the batches created before `as_of` minus the retention, never one on hold, leaving a
    deletion entry for each (its dates, counts and digest, so the chain still verifies). In steps of
    `PURGE_STEP` batches, oldest first, each its own transaction: a catch-up purge of a year of
    single-record batches never holds them all in memory, nor binds a parameter per batch in one
    statement (SQLite and psycopg refuse past 32,766 and 65,535), and a failed step leaves the
    steps before it purged, each with its deletion entries, and its own batches as they were."""
    cutoff = months_before(as_datetime(as_of or utcnow()), retention_months)
    report = PurgeReport(cutoff=cutoff)
    with database.session() as session:
        report.held = list(session.scalars(select(Batch.id).where(Batch.created_at < cutoff, Batch.hold_reason.is_not(None))
                                           .order_by(Batch.created_at)))
    while _purge_step(database, cutoff, report, store):
        pass
    report.strays = sweep_strays(database, store=store)
    return report


STRAY_SECONDS = 3600  # a partial archive not written to for this long is never going to be finished
_STRAY_NAME = re.compile(r"([0-9a-f]{32})(?:\.(?:arrow|parquet)\.partial|\.in-doubt)")


def sweep_strays(database: Database, *, store=None, older_than: float = STRAY_SECONDS) -> list[str]:
    """Remove what recording left in the store that no record names: partial archives a killed
    process left (untouched for `older_than` seconds), and the archive of a batch whose publish failed
    while the database could not say whether it had committed — kept then, with an `<id>.in-doubt`
    mark, in case it had: now its batch is looked up, and its files go unless it is complete.
    Applicant data must not outlive its record. Only such names are touched: a store another
    database shares keeps its archives. Returns the names removed."""
    try:
        folder = archive.store_folder(store, database.url)
    except ValueError:  # no store: nothing was ever written to one
        return []
    found = [(name, match[1]) for name, age in _store_files(folder)
             if age >= older_than and (match := _STRAY_NAME.fullmatch(name))]
    if not found:
        return []
    in_doubt = {batch_id for name, batch_id in found if name.endswith(".in-doubt")}
    complete = set()
    if in_doubt:
        with database.read_session() as session:
            complete = set(session.scalars(select(Batch.id).where(Batch.id.in_(in_doubt), Batch.status == "complete")))
    removed = [name for name, _ in found if not name.endswith(".in-doubt")]
    for batch_id in in_doubt:
        if batch_id not in complete:
            removed += [f"{batch_id}.arrow", f"{batch_id}.parquet"]
        removed.append(f"{batch_id}.in-doubt")  # the mark last: an interrupted sweep is done again
    for name in removed:
        archive.remove(f"{folder}/{name}" if archive.is_url(folder) else str(folder / name))
    return [name for name in removed if not name.endswith(".in-doubt")]


def _store_files(folder) -> list[tuple[str, float]]:
    """(name, seconds since last written) of each file directly in the store."""
    import time

    if archive.is_url(folder):
        import fsspec

        fs, root = fsspec.core.url_to_fs(str(folder))
        if not fs.isdir(root):
            return []
        now = time.time()
        return [(entry["name"].rstrip("/").rsplit("/", 1)[-1], now - modified_at(entry, now))
                for entry in fs.ls(root, detail=True)]
    if not folder.is_dir():
        return []
    now = time.time()
    with os.scandir(folder) as entries:
        return [(entry.name, now - entry.stat().st_mtime) for entry in entries if entry.is_file()]


def _purge_step(database: Database, cutoff: datetime, report: PurgeReport, store) -> bool:
    """Purge the next `PURGE_STEP` due batches; False when none was left."""
    files, seqs = [], []
    with database.session() as session:
        due = session.scalars(select(Batch).where(Batch.created_at < cutoff, Batch.hold_reason.is_(None))
                              .order_by(Batch.created_at, Batch.id).limit(PURGE_STEP)).all()
        for batch in due:
            # The hold is checked by the DELETE itself, not only as read above: a hold committed
            # meanwhile (PostgreSQL reads without locking) keeps its batch, and the next step's
            # read leaves it out.
            if session.execute(delete(Batch).where(Batch.id == batch.id, Batch.hold_reason.is_(None))).rowcount != 1:
                report.held.append(batch.id)
                continue
            session.add(_deletion_entry(batch))
            files += [archive.locate(batch.archive, store, database.url)] if batch.archive else []
            seqs += [batch.seq] if batch.seq is not None else []
            report.purged.append(batch.id)
        if seqs:  # one pass over the index for the step's batches
            session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq.in_(seqs)))
    for location in files:  # only once the step's deletion is committed: a failed step leaves its archives
        archive.remove(location)
    return bool(due)


def _deletion_entry(batch: Batch) -> Deletion:
    chained = batch.seq is not None  # a failed batch is in no chain: nothing to recompute
    return Deletion(batch_id=batch.id, seq=batch.seq, created_at=batch.created_at, purged_at=utcnow(),
                    status=batch.status, rows=batch.rows, scored=batch.scored, failed=batch.failed,
                    data_digest=batch.data_digest, prev_digest=batch.prev_digest, digest=batch.digest,
                    header=header_of(batch) if chained else None,
                    digest_version=version_of(batch) if chained else None)


def hold(database: Database, batch_id: str, reason: str, *, also: Callable[[Session], None] | None = None) -> None:
    """Keep a batch past its retention (an examination or a lawsuit pending, §1002.12(b)(4)).
    `also(session)` runs in the same transaction: the audit event is written with the hold or not at all."""
    if not reason.strip():
        raise RecordError("A hold needs a reason.")
    with database.session() as session:
        batch = _existing(session, batch_id)
        batch.hold_reason, batch.held_at = reason.strip(), utcnow()
        if also is not None:
            also(session)


def release(database: Database, batch_id: str, *, also: Callable[[Session], None] | None = None) -> None:
    with database.session() as session:
        batch = _existing(session, batch_id)
        batch.hold_reason, batch.held_at = None, None
        if also is not None:
            also(session)


def _existing(session: Session, batch_id: str) -> Batch:
    get_batch(session, batch_id)  # raises the right error
    return session.get(Batch, batch_id)


# --- export --------------------------------------------------------------------------------------

BATCH_COLUMNS = (("batch_id", pa.string()), ("created_at", pa.string()), ("model_version", pa.string()))
LIST_COLUMNS = ("reason_codes", "reason_contributions")


def export(database: Database, since: datetime | date, fmt: str, out, *, store=None) -> int:
    """Every decision of the complete batches created since `since`, oldest first, with its batch's
    id, time and model version, as Parquet or CSV (reasons joined with `;`). Streams batch by batch
    and chunk by chunk, so memory stays that of one chunk. Returns the rows written."""
    if fmt not in ("parquet", "csv"):
        raise RecordError("The export format is parquet or csv.")
    with database.session() as session:
        batches = session.execute(select(Batch.id, Batch.created_at, Batch.model_version, Batch.archive)
                                  .where(Batch.status == "complete", Batch.created_at >= as_datetime(since))
                                  .order_by(Batch.seq)).all()
    batches = [(batch_id, created_at, model_version, archive.locate(stored, store, database.url))
               for batch_id, created_at, model_version, stored in batches]
    schema = _export_schema(database, batches, csv=fmt == "csv")
    writer = pq.ParquetWriter(out, schema, compression="zstd") if fmt == "parquet" else pacsv.CSVWriter(out, schema)
    written = 0
    with writer:
        for batch_id, created_at, model_version, path in batches:
            for chunk in _chunks(batch_id, path, _archive_data(database, batch_id) if path is None else None):
                columns = {name: pa.array([value] * chunk.num_rows, pa.string()) for name, value in
                           zip(("batch_id", "created_at", "model_version"), (batch_id, iso(created_at), model_version))}
                columns |= {f.name: _export_column(chunk, f) for f in schema if f.name not in columns}
                writer.write_table(pa.table(columns, schema=schema))
                written += chunk.num_rows
    return written


def _chunks(batch_id: str, location: str | None, data: bytes | None):
    """`archive.chunks`, its read failures `ArchiveUnavailable` (a failure writing the export is not one)."""
    chunks = iter(archive.chunks(location, data))
    while True:
        with _reading(batch_id):
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


def _archive_data(database: Database, batch_id: str) -> bytes | None:
    with database.session() as session:
        return session.execute(select(Batch.archive_data).where(Batch.id == batch_id)).scalar_one()


def _export_schema(database: Database, batches, *, csv: bool) -> pa.Schema:
    """The archives' columns united (inputs differ between files), after the batch's own."""
    schemas = [archive.empty().schema]
    for batch_id, _, _, location in batches:
        with _reading(batch_id):
            schemas.append(archive.schema(location, None if location else _archive_data(database, batch_id)))
    united = pa.unify_schemas(schemas, promote_options="permissive")
    fields = [pa.field(name, kind) for name, kind in BATCH_COLUMNS]
    fields += [pa.field(f.name, pa.string()) if csv and f.name in LIST_COLUMNS else pa.field(f.name, f.type)
               for f in united]
    return pa.schema(fields)


def _export_column(chunk: pa.Table, field: pa.Field) -> pa.Array:
    if field.name not in chunk.column_names:
        return pa.nulls(chunk.num_rows, field.type)
    column = chunk[field.name]
    if field.name in LIST_COLUMNS and pa.types.is_string(field.type):
        column = pc.binary_join(column.cast(pa.list_(pa.string())), ";")
    return column.cast(field.type)
