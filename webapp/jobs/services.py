"""The jobs' operations. Submitting, reading, listing and cancelling are owner-scoped (another
analyst's job is not found; `owner=None` is for auditors and admins). Claiming, progress and
finishing are the worker's: each is one conditional UPDATE, so two workers never both run a job
and a worker whose job was cancelled or re-queued learns it at its next progress write.

Cancelling races the worker's `seal`, the UPDATE running → finishing made just before the job's
batch is completed: whichever commits first wins. A cancel before it leaves the worker to fail the
batch (reason "cancelled"); one after it answers 409 `job-finishing` and the result is kept."""
from __future__ import annotations

import logging
import os
import secrets
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from webapp.core.errors import InputError, Problem, ServiceUnavailable
from webapp.jobs import inputs
from webapp.jobs.models import ENDED, STATES, WORKING, Job
from webapp.jobs.sources import SourceRefused
from webapp.records.models import Batch

log = logging.getLogger(__name__)
IDEMPOTENCY_SECONDS = 24 * 3600

__all__ = ["SourceRefused"]


class JobError(Problem):
    """A refused job operation: a problem like the input's, answered by the jobs blueprint."""

    status, code, title = 400, "job-error", "The job could not be used"


class JobNotFound(JobError):
    status, code, title = 404, "job-not-found", "Not Found"


class JobConflict(JobError):
    status, code, title = 409, "job-ended", "Conflict"


class JobFinishing(JobConflict):
    code = "job-finishing"


class QueueUnavailable(ServiceUnavailable):
    code = "queue-unavailable"


class JobStopped(Exception):
    """Raised in the worker between chunks: the job was cancelled, or re-queued to another worker.
    `code` is what the abandoned batch's record says."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Submission:
    owner: str
    options: dict                 # ScoringOptions.to_dict(), with "engine" for dataset jobs
    format: str
    input_name: str = "input"
    json_input: bool = False
    source_url: str | None = None
    error_threshold: float | None = None
    idempotency_key: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _heartbeat_clock(session):
    """What a heartbeat is stamped with, and stale ones are judged by: the database's clock on
    PostgreSQL, whose workers may run on several hosts whose clocks differ (a host seconds ahead
    would see live jobs as stale); this host's on SQLite, which is one host's file anyway."""
    return func.now() if _shared_clock(session) else utcnow()


def _heartbeat_now(session) -> datetime:
    """`_heartbeat_clock`'s time now, as a value."""
    return session.scalar(select(func.now())) if _shared_clock(session) else utcnow()


def _shared_clock(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives times back without their zone; they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def submit(database, store, enqueue: Callable[[str], None], submission: Submission,
           upload: BinaryIO | None = None) -> tuple[dict, bool]:
    """Create and enqueue a job; return its document and whether it is new. The same idempotency key
    from the same owner within 24 h returns the first job instead. A queue that cannot be reached
    leaves nothing behind and raises `QueueUnavailable`."""
    if submission.idempotency_key:
        existing = _by_key(database, submission.owner, submission.idempotency_key)
        if existing is not None:
            return existing, False
    job_id = uuid.uuid4().hex
    location = inputs.save(store, job_id, upload) if upload is not None else None
    job = Job(id=job_id, owner=submission.owner, state="queued", created_at=utcnow(), rows_done=0,
              options=submission.options, input_name=submission.input_name, input_location=location,
              source_url=submission.source_url, json_input=submission.json_input, format=submission.format,
              error_threshold=submission.error_threshold, idempotency_key=submission.idempotency_key, attempts=0)
    try:
        with database.session() as session:
            session.add(job)
    except IntegrityError:
        inputs.delete(store, location)  # the same key, submitted at the same moment: the first one wins
        existing = _by_key(database, submission.owner, submission.idempotency_key)
        if existing is None:
            raise
        return existing, False
    try:
        enqueue(job_id)
    except QueueUnavailable:
        _forget(database, store, job_id, location)
        raise
    except Exception as exc:  # noqa: BLE001 - any broker fault (Redis down, a locked SQLite file)
        _forget(database, store, job_id, location)
        log.warning("job queue unreachable (%s)", type(exc).__name__)
        raise QueueUnavailable(f"The job queue cannot be reached right now ({type(exc).__name__}); nothing was "
                               "queued. Try again later.") from None
    with database.session() as session:
        return job_document(session.get(Job, job_id)), True


def _forget(database, store, job_id: str, location: str | None) -> None:
    inputs.delete(store, location)
    with database.session() as session:
        found = session.get(Job, job_id)
        if found is not None:
            session.delete(found)


def _by_key(database, owner: str, key: str) -> dict | None:
    with database.session() as session:
        job = session.scalars(select(Job).where(Job.owner == owner, Job.idempotency_key == key)).first()
        if job is None:
            return None
        if _aware(job.created_at) + timedelta(seconds=IDEMPOTENCY_SECONDS) > utcnow():
            return job_document(job)
        job.idempotency_key = None  # older than a day: the key is free again
        return None


def get_job(session, job_id: str, owner: str | None) -> Job:
    job = session.get(Job, job_id) if isinstance(job_id, str) and len(job_id) <= 32 else None
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(f"There is no job {job_id[:40]}.")
    return job


def list_jobs(session, owner: str | None, state: str | None = None, limit: int = 100) -> list[dict]:
    if state is not None and state not in STATES:
        raise JobError(f"state must be one of {', '.join(STATES)}")
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if owner is not None:
        query = query.where(Job.owner == owner)
    if state is not None:
        query = query.where(Job.state == state)
    return [job_document(job) for job in session.scalars(query)]


def cancel(database, store, job_id: str, owner: str | None) -> dict:
    """A queued job is cancelled at once; a running one is marked cancelled and its worker stops at
    the next chunk (its batch failed with reason "cancelled", its partial output removed). A job
    past the worker's `seal`, or re-queued after its batch completed, is not: `JobFinishing`."""
    with database.session() as session:
        job = get_job(session, job_id, owner)
        location, sealed = job.input_location, _batch_complete(session, job.batch_id)
    # Conditional UPDATEs, never a read then a write: the worker's claim, release or seal may commit
    # in between (queued again last: a running job released for a retry meanwhile).
    for was in () if sealed else ("queued", "running", "queued"):
        with database.session() as session:
            values = {"input_location": None} if was == "queued" else {}
            cancelled = session.execute(update(Job).where(Job.id == job_id, Job.state == was).values(
                state="cancelled", finished_at=utcnow(), **values)).rowcount
        if cancelled:
            if was == "queued":
                inputs.delete(store, location)
            with database.session() as session:
                return job_document(session.get(Job, job_id))
    with database.session() as session:
        state = session.scalar(select(Job.state).where(Job.id == job_id))
    if state in ENDED:
        raise JobConflict(f"The job has already {state}; there is nothing to cancel.")
    raise JobFinishing("The job is finishing; its result is kept.")


def _batch_complete(session, batch_id: str | None) -> bool:
    """The job's batch is recorded complete (a retry of a job that passed its seal re-uses it)."""
    return bool(batch_id) and session.scalar(select(Batch.status).where(Batch.id == batch_id)) == "complete"


def job_document(job: Job) -> dict:
    total = job.rows_total
    percent = round(100 * job.rows_done / total, 1) if total else (100.0 if job.state == "succeeded" else None)
    return {"id": job.id, "state": job.state, "created_at": _iso(job.created_at), "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at), "owner": job.owner, "format": job.format,
            "input_name": job.source_url or job.input_name,
            "progress": {"rows_done": job.rows_done, "rows_total": total,
                         "percent": None if percent is None else min(percent, 100.0)},
            "batch_id": job.batch_id, "summary": job.summary, "error": job.error,
            "result": f"/api/v1/jobs/{job.id}/result" if job.state == "succeeded" and job.result_token else None,
            "error_threshold": job.error_threshold, "attempts": job.attempts}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- the worker's side ----------------------------------------------------------------------------

def worker_id() -> str:
    """`host:pid:namespace:token:thread`. The PID namespace says whose process table the pid is
    in (containers with host networking share a host name, not their pids); the random token, made
    once per process, keeps two processes apart that have the same pid (PID 1 in two containers)."""
    import threading

    return f"{socket.gethostname()}:{os.getpid()}:{_pid_namespace()}:{_process_token()}:" \
           f"{threading.current_thread().name}"[:200]


_TOKENS: dict[int, str] = {}


def _process_token() -> str:
    pid = os.getpid()  # a forked child draws its own
    return _TOKENS.get(pid) or _TOKENS.setdefault(pid, secrets.token_hex(6))


def _pid_namespace() -> str:
    """This process's PID namespace (Linux: the inode of /proc/self/ns/pid), or `-` where unknown."""
    try:
        return "".join(c for c in os.readlink("/proc/self/ns/pid") if c.isdigit()) or "-"
    except OSError:
        return "-"


def claim(database, job_id: str, worker: str) -> Job | None:
    """queued → running for this worker, atomically; None when another has it or it has ended."""
    now = utcnow()
    with database.session() as session:
        claimed = session.execute(update(Job).where(Job.id == job_id, Job.state == "queued").values(
            state="running", worker_id=worker, heartbeat_at=_heartbeat_clock(session),
            attempts=Job.attempts + 1)).rowcount
        if not claimed:
            return None
        job = session.get(Job, job_id)
        if job.started_at is None:
            job.started_at = now
        return job


def _mine(job_id: str, worker: str):
    return (Job.id == job_id, Job.state.in_(WORKING), Job.worker_id == worker)


def progress(database, job_id: str, worker: str, rows_done: int, rows_total: int | None = None) -> None:
    """Write progress (and the heartbeat); `JobStopped` if the job is no longer this worker's."""
    values = {"rows_done": rows_done}
    if rows_total is not None:
        values["rows_total"] = rows_total
    with database.session() as session:
        values["heartbeat_at"] = _heartbeat_clock(session)
        if session.execute(update(Job).where(*_mine(job_id, worker)).values(**values)).rowcount:
            return
        state = session.scalar(select(Job.state).where(Job.id == job_id))
    raise JobStopped("cancelled" if state in ("cancelled", None) else "abandoned")


def seal(database, job_id: str, worker: str) -> None:
    """running → finishing, the point of no return, just before the job's batch is completed: from
    here a cancel is refused. `JobStopped` if a cancel (or a re-queue) came first."""
    with database.session() as session:
        if session.execute(update(Job).where(*_mine(job_id, worker)).values(state="finishing")).rowcount:
            return
        state = session.scalar(select(Job.state).where(Job.id == job_id))
    raise JobStopped("cancelled" if state in ("cancelled", None) else "abandoned")


def heartbeat(database, job_id: str, worker: str) -> bool:
    with database.session() as session:
        return bool(session.execute(update(Job).where(*_mine(job_id, worker)).values(
            heartbeat_at=_heartbeat_clock(session))).rowcount)


def set_batch(database, job_id: str, worker: str, batch_id: str) -> None:
    with database.session() as session:
        session.execute(update(Job).where(*_mine(job_id, worker)).values(batch_id=batch_id))


def finish(database, job_id: str, worker: str, state: str, **values) -> bool:
    """running or finishing → an ended state, if still this worker's (a cancel while running wins)."""
    with database.session() as session:
        return bool(session.execute(update(Job).where(*_mine(job_id, worker)).values(
            state=state, finished_at=utcnow(), heartbeat_at=None, input_location=None, **values)).rowcount)


def has_ended(database, job_id: str) -> bool:
    with database.session() as session:
        return session.scalar(select(Job.state).where(Job.id == job_id)) in ENDED


def release(database, job_id: str, worker: str) -> None:
    """Back to queued, for the queue's retry (a transient fault: the database, the model)."""
    with database.session() as session:
        session.execute(update(Job).where(*_mine(job_id, worker)).values(state="queued", worker_id=None))


def fail_queued(database, job_id: str, error: dict) -> bool:
    with database.session() as session:
        return bool(session.execute(update(Job).where(Job.id == job_id, Job.state == "queued").values(
            state="failed", finished_at=utcnow(), error=error, input_location=None)).rowcount)


def _worker_gone(worker: str | None, host: str) -> bool:
    """A worker of this host and PID namespace whose process no longer exists. Anyone else's (or an
    id of the older `host:pid:thread` form) is left to its heartbeat: its pid means nothing here."""
    parts = (worker or "").split(":")
    if len(parts) < 5:
        return False
    name, pid, namespace = parts[:3]
    if name != host or namespace != _pid_namespace() or namespace == "-" or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def requeue_lost(database, stale_seconds: float) -> list[str]:
    """Jobs running on no live worker — its heartbeat older than `stale_seconds`, or its process on
    this host gone — back to queued. Returns their ids, to enqueue again."""
    host, lost = socket.gethostname(), []
    with database.session() as session:
        cutoff = _heartbeat_now(session) - timedelta(seconds=stale_seconds)
        found = session.execute(select(Job.id, Job.state, Job.worker_id, Job.heartbeat_at)
                                .where(Job.state.in_(WORKING))).all()
        for job_id, state, worker_id, heartbeat_at in found:
            if (_aware(heartbeat_at) or cutoff) <= cutoff or _worker_gone(worker_id, host):
                # Only if nothing changed it since it was read: a cancel or an end meanwhile (PostgreSQL
                # reads without locking) stays, and a job the same worker has just heartbeaten is its own.
                moved = session.execute(update(Job).where(
                    Job.id == job_id, Job.state == state, _as_read(Job.worker_id, worker_id),
                    _as_read(Job.heartbeat_at, heartbeat_at)).values(state="queued", worker_id=None))
                if moved.rowcount == 1:
                    lost.append(job_id)
    if lost:
        log.warning("re-queued %d job(s) found running on no live worker", len(lost))
    return lost


def _as_read(column, value):
    """The column still holds the value read (NULL compares equal to nothing, so IS NULL for None)."""
    return column.is_(None) if value is None else column == value


def queued_ids(database, older_than: float | None = None) -> list[str]:
    """The queued jobs, oldest first (those submitted more than `older_than` seconds ago, when given)."""
    query = select(Job.id).where(Job.state == "queued")
    if older_than is not None:
        query = query.where(Job.created_at < utcnow() - timedelta(seconds=older_than))
    with database.session() as session:
        return list(session.scalars(query.order_by(Job.created_at)))


def live_inputs(database) -> set[str]:
    with database.session() as session:
        return set(session.scalars(select(Job.input_location).where(Job.state.in_(("queued", *WORKING)),
                                                                     Job.input_location.is_not(None))))


def problem_of(exc: BaseException) -> dict:
    """The problem detail /score would have answered for `exc`."""
    if isinstance(exc, InputError):
        body = exc.to_dict()
    elif isinstance(exc, ServiceUnavailable):
        body = {"code": exc.code, "title": getattr(exc, "title", "Service Unavailable"), "status": exc.status,
                "detail": exc.message}
    else:
        body = {"code": "internal-error", "title": "Internal Server Error", "status": 500,
                "detail": "Something went wrong on our side. The error has been logged."}
    return {"type": f"/docs#problem-{body['code']}", **body}
