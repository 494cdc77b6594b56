"""What a worker does with one job, safe to run twice (the queue may deliver a task again, and jobs
found running on no live worker are re-queued):

- the job is claimed queued → running in one conditional UPDATE; a second delivery finds it taken
  or ended and does nothing;
- its batch is recorded through the scoring service with channel "job" and the job's owner as actor,
  the batch id written to the job as soon as it exists. A retry whose predecessor's batch is already
  complete in the record scores again without recording (the record holds those rows once) and keeps
  that batch id; one whose predecessor died mid-batch starts a new batch — a batch is only written
  to the database when it completes, so the dead one left none;
- progress, the heartbeat and cancellation are one UPDATE per chunk, at most `progress_interval`
  apart; a cancelled job stops at the next chunk, its batch failed with reason "cancelled" and no
  result kept;
- just before the batch is completed the job is sealed, running → finishing in one conditional
  UPDATE: a cancel that came first fails the batch instead, and one after it is refused (409), so a
  cancelled job never has a complete batch. A retry re-using a complete batch seals at once;
- the answer goes into the results store; the job's uploaded input is deleted when it ends;
- a large batch's `Loan_ID` index is written once the job has ended, not before its last UPDATE
  (on SQLite that UPDATE would wait about a second per million rows for the index's write lock).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from webapp.core.errors import InputError, ServiceUnavailable
from webapp.core.limits import Limits
from webapp.jobs import inputs, services
from webapp.jobs.services import JobStopped
from webapp.jobs.sources import check_parts, check_source
from webapp.records.models import Batch
from webapp.service import BatchRecording, Caller, InputFile, ScoringOptions, score_input
from webapp.storage import ResultStore, StorageFault

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
HEARTBEAT_SECONDS = 5.0


class ErrorThresholdExceeded(InputError):
    status = 422
    code = "error-threshold"
    title = "Too many rows failed"


@dataclass
class Runtime:
    """The parts of the app a worker needs, without the app: built by the web layer or the CLI."""

    database: object
    results: ResultStore
    records_store: str
    models: object                 # a ModelProvider
    limits: Limits
    job_sources: list[str] = field(default_factory=list)
    progress_interval: float = 0.5  # seconds between progress writes (and cancellation checks)
    stale_seconds: float = 60.0     # a running job's heartbeat older than this: its worker is gone
    dask_scheduler: str | None = None  # DASK_SCHEDULER_ADDRESS; None: a LocalCluster per dataset job


class _Progress:
    """The service's `progress` callback: throttled writes, which also notice cancellation."""

    def __init__(self, runtime: Runtime, job_id: str, worker: str, total: int | None):
        self.runtime, self.job_id, self.worker, self.total = runtime, job_id, worker, total
        self.last = float("-inf")

    def __call__(self, rows_done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.runtime.progress_interval:
            return
        self.last = now
        services.progress(self.runtime.database, self.job_id, self.worker, rows_done, self.total)


class JobRecording(BatchRecording):
    """The batch record of a job: the batch id written to the job when the batch opens; before the
    batch completes, the error threshold checked (above it, the batch is failed instead) and the job
    sealed (`on_seal` raises `JobStopped` if it was cancelled: the batch is failed instead). A large
    batch's index is started by `run_job` once the job has ended (`start_indexing`)."""

    index_later = False

    def __init__(self, *args, on_open: Callable[[str], None], on_seal: Callable[[], None],
                 error_threshold: float | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_open, self.on_seal, self.error_threshold = on_open, on_seal, error_threshold

    def open(self, input_format: str) -> "JobRecording":
        super().open(input_format)
        self.on_open(self.batch_id)
        return self

    def complete(self, report: dict) -> None:
        check_threshold(report, self.error_threshold)
        self.on_seal()
        super().complete(report)


def check_threshold(report: dict, threshold: float | None) -> None:
    rows, failed = report.get("rows") or 0, report.get("failed") or 0
    if threshold is not None and rows and failed / rows > threshold:
        raise ErrorThresholdExceeded(f"{failed:,} of {rows:,} rows failed, more than the job's error threshold "
                                     f"({threshold:.0%}).", failed=failed, rows=rows, error_threshold=threshold)


def run_job(runtime: Runtime, job_id: str) -> str | None:
    """Run one job to its end; the state it ended in, or None when it was not this worker's to run."""
    worker = services.worker_id()
    job = services.claim(runtime.database, job_id, worker)
    if job is None:
        return None
    if job.attempts > MAX_ATTEMPTS:
        _end(runtime, job, worker, "failed", error=services.problem_of(ServiceUnavailable(
            # Which of the two, the worker's log says ("released for a retry" names the fault).
            f"The job was started {MAX_ATTEMPTS} times and never finished (its worker stopped, or a fault "
            "outlasted the retries); it was not run again.",
            code="worker-lost")))
        return "failed"
    recordings: list[JobRecording] = []
    try:
        return _run(runtime, job, worker, recordings)
    finally:
        # Once the job has ended: on SQLite a big batch's index holds the write lock for about a
        # second per million rows, and the job's last UPDATE would wait behind it.
        for recording in recordings:
            recording.start_indexing()


def _run(runtime: Runtime, job, worker: str, recordings: list) -> str:
    job_id = job.id
    beating = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(runtime, job_id, worker, beating), daemon=True,
                            name=f"job-heartbeat-{job_id[:8]}")
    beat.start()
    try:
        fields = _dataset(runtime, job, worker, recordings) if job.source_url else \
            _upload(runtime, job, worker, recordings)
    except JobStopped as stop:
        if stop.code == "cancelled":
            inputs.delete(runtime.results, job.input_location)
        log.info("job %s stopped between chunks (%s)", job_id, stop.code)
        return stop.code
    except ServiceUnavailable as exc:
        if isinstance(exc, InputError):  # pragma: no cover - the two families are apart
            raise
        services.release(runtime.database, job_id, worker)  # a transient fault: the queue retries it
        log.warning("job %s released for a retry (%s)", job_id, exc.code)
        raise
    except InputError as exc:
        _end(runtime, job, worker, "failed", error=services.problem_of(exc))
        return "failed"
    except StorageFault as exc:  # the results store, e.g. full: transient, and the batch may stand already
        services.release(runtime.database, job_id, worker)  # the retry re-uses a batch that completed
        log.warning("job %s released for a retry (results store: %s)", job_id, type(exc).__name__)
        raise
    except Exception as exc:
        log.exception("job %s failed", job_id)
        _end(runtime, job, worker, "failed", error=services.problem_of(exc))
        return "failed"
    finally:
        beating.set()
    _end(runtime, job, worker, "succeeded", **fields)
    return "succeeded"


def _end(runtime: Runtime, job, worker: str, state: str, **values) -> None:
    # The input goes once the job has ended — not if it was meanwhile re-queued to another worker.
    if services.finish(runtime.database, job.id, worker, state, **values) or services.has_ended(runtime.database,
                                                                                               job.id):
        inputs.delete(runtime.results, job.input_location)


def _heartbeat(runtime: Runtime, job_id: str, worker: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            if not services.heartbeat(runtime.database, job_id, worker):
                return
        except Exception:  # noqa: BLE001 - the next progress write reports a lasting fault
            log.warning("job %s: heartbeat not written", job_id)


def _scoring_options(job) -> ScoringOptions:
    names = {f.name for f in dataclasses.fields(ScoringOptions)}
    return ScoringOptions(**{k: v for k, v in job.options.items() if k in names})


def _limits(runtime: Runtime) -> Limits:
    # A job is not a request: no request time budget (the row limit still holds).
    return dataclasses.replace(runtime.limits, time_budget=None)


def _meta(job, model) -> dict:
    return {"filename": job.input_name, "model_version": model.version, "threshold": model.threshold,
            "model_cv": model.card.get("cv"), "actor": job.owner, "format": job.format, "job_id": job.id}


def _recorded_before(runtime: Runtime, batch_id: str | None) -> bool:
    return _recorded_version(runtime, batch_id) is not None


def _recorded_version(runtime: Runtime, batch_id: str | None) -> str | None:
    """The model version a predecessor's complete batch recorded, or None when there is none."""
    if not batch_id:
        return None
    with runtime.database.session() as session:
        batch = session.get(Batch, batch_id)
        return batch.model_version if batch is not None and batch.status == "complete" else None


def _job_model(runtime: Runtime, job):
    """The champion for a job's first run; for a retry whose batch a predecessor recorded, the version
    that batch recorded: the answer rebuilt must be the record's decisions, whatever was promoted since."""
    recorded = _recorded_version(runtime, job.batch_id)
    return runtime.models.current() if recorded is None else runtime.models.version(recorded)


def _recording(runtime: Runtime, job, worker: str, options: ScoringOptions, model, source,
               recordings: list) -> JobRecording | None:
    """The job's batch record (added to `recordings`), or None when a predecessor's batch is
    complete (then the job is sealed at once: that batch stands, so it can no longer be cancelled)."""
    if _recorded_before(runtime, job.batch_id):
        services.seal(runtime.database, job.id, worker)
        return None
    recording = JobRecording(
        runtime.database, runtime.records_store, Caller(job.owner, "job"), options, model, source(),
        error_threshold=job.error_threshold, on_seal=lambda: services.seal(runtime.database, job.id, worker),
        on_open=lambda batch_id: services.set_batch(runtime.database, job.id, worker, batch_id))
    recordings.append(recording)
    return recording


def _upload(runtime: Runtime, job, worker: str, recordings: list) -> dict:
    model = _job_model(runtime, job)
    options = _scoring_options(job)
    with inputs.open_input(runtime.results, job.input_location) as source:
        total = inputs.count_rows(source)
        tracker = _Progress(runtime, job.id, worker, total)
        tracker(0, force=True)
        recorder = _recording(runtime, job, worker, options, model, lambda: InputFile.of(source, job.input_name),
                              recordings)
        reuse = recorder is None
        outcome = {}

        def write(out) -> dict:
            answer = score_input(source, model, options, limits=_limits(runtime), json_hint=job.json_input,
                                 recorder=recorder, out=out, progress=tracker)
            if reuse:
                check_threshold(answer.report, job.error_threshold)
                answer.report["batch_id"] = job.batch_id
            outcome["batch_id"] = job.batch_id if reuse else answer.batch_id
            outcome["report"] = answer.report
            return answer.report

        token = runtime.results.create(write, _meta(job, model))
    report = outcome["report"]  # as stored beside the answer (no need to read it back)
    return {"result_token": token, "summary": report, "batch_id": outcome["batch_id"],
            "rows_done": report["rows"], "rows_total": report["rows"]}


def _dataset(runtime: Runtime, job, worker: str, recordings: list) -> dict:
    """A dataset job, through the engines (local or Dask), the same per-part code as `flask score`,
    recorded as one batch like `flask score` (once: a retry after the batch completed re-uses it)."""
    from webapp.engines.dataset import score_dataset
    from webapp.engines.parts import Options, discover
    from webapp.service.recording import dataset_input

    model = _job_model(runtime, job)
    location = check_source(job.source_url, runtime.job_sources)  # the fence again: settings may have changed
    parts = check_parts(discover(location), runtime.job_sources)  # links inside the folder lead nowhere else
    counts = [_part_rows(url) for url in parts]
    total = sum(counts) if all(c is not None for c in counts) else None
    tracker = _Progress(runtime, job.id, worker, total)
    tracker(0, force=True)
    done = {"parts": 0, "rows": 0}

    def part_done(_n: int) -> None:
        count = counts[done["parts"]] if done["parts"] < len(counts) else 0
        done["parts"] += 1
        done["rows"] += count or 0
        tracker(done["rows"], force=True)  # one write per part

    options = _scoring_options(job)
    recorder = _recording(runtime, job, worker, options, model, lambda: dataset_input(parts, location), recordings)
    reuse = recorder is None
    scratch = tempfile.mkdtemp(prefix="loan-job-")
    try:
        output = str(Path(scratch) / f"answer.{options.format}")
        summary = score_dataset(location, output, model, Options(options, limits=dataclasses.replace(
            _limits(runtime), max_rows=10**12)), engine=job.options.get("engine") or "local", parts=parts,
            progress=part_done, recorder=recorder, scheduler=runtime.dask_scheduler)
        report = summary.to_dict()
        report["batch_id"] = job.batch_id if reuse else recorder.batch_id
        check_threshold(report, job.error_threshold)

        def write(out) -> dict:
            with open(output, "rb") as answer:
                shutil.copyfileobj(answer, out, 1 << 20)
            return report

        token = runtime.results.create(write, _meta(job, model))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"result_token": token, "summary": report, "batch_id": report["batch_id"], "rows_done": report["rows"],
            "rows_total": report["rows"]}


def _part_rows(url: str) -> int | None:
    import fsspec

    try:
        with fsspec.open(url, "rb") as source:
            return inputs.count_rows(source)
    except OSError:
        return None


def _plain(value):
    return value.item() if hasattr(value, "item") else str(value)


ORPHAN_SECONDS = 120  # a job queued this long with no task waiting for it is enqueued again


def housekeeping(runtime: Runtime, enqueue: Callable[[str], None],
                 waiting: Callable[[], set[str]] | None = None) -> dict:
    """The periodic task: re-queue jobs running on no live worker, enqueue again queued jobs with no
    task in the queue (`waiting()`: the job ids the queue's tasks will run), purge expired results and the
    inputs of jobs that ended without cleaning up (a crash), and write the index of batches whose
    indexing never finished (a lost `index_batch` task: Huey acknowledges a task when it takes it)."""
    from webapp.records import index_pending

    lost = services.requeue_lost(runtime.database, runtime.stale_seconds)
    # Queued with no task to run it: its retries ran out on a lasting fault, or its task was lost
    # between the queue and the claim. (A duplicate task finds the job taken and does nothing.)
    waiting_now = waiting() if waiting is not None else None
    orphans = [] if waiting_now is None else [
        job_id for job_id in services.queued_ids(runtime.database, older_than=ORPHAN_SECONDS)
        if job_id not in waiting_now and job_id not in lost]
    for job_id in lost + orphans:
        enqueue(job_id)
    expired = runtime.results.purge()
    removed = inputs.purge(runtime.results, services.live_inputs(runtime.database))
    indexed = at_low_priority(index_pending, runtime.database, store=runtime.records_store)
    return {"requeued": len(lost), "orphans_enqueued": len(orphans), "results_expired": expired,
            "inputs_removed": removed, "indexed": len(indexed)}


BACKGROUND_NICENESS = 10  # how much lower derived work (indexes) runs than requests and jobs


def at_low_priority(work: Callable, *args, **kwargs):
    """`work(*args, **kwargs)` on a thread of its own at a lower CPU priority, waited for. A large
    batch's index is derived data (look-ups read the archive until it is written), but writing a
    million rows takes over a second of CPU that, on a small machine, the web workers' next upload
    needs: the scheduler now gives them the core first. Linux sets niceness per thread; elsewhere
    the work runs at normal priority."""
    outcome: dict = {}

    def run() -> None:
        if sys.platform.startswith("linux"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                               min(19, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + BACKGROUND_NICENESS))
            except OSError:  # not permitted here: run as is
                pass
        try:
            outcome["value"] = work(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="low-priority")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
