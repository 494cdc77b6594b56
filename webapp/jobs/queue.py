"""The queue: Huey, with SQLite storage in the instance folder by default (no broker to install) or
Redis when `JOBS_REDIS_URL` (else `REDIS_URL`) is set — the one several hosts share. Huey was chosen
over Celery and RQ because it serves both an embedded default and Redis with one small dependency.

Huey acknowledges a task when a worker takes it: a worker killed mid-job loses the task, so jobs
found running on no live worker are re-queued when a worker starts and by the periodic
housekeeping (every minute); `run_job` is safe to run twice. Tasks are registered over a `Runtime`
(the app's database, stores and model), never over the app."""
from __future__ import annotations

import logging
from pathlib import Path

from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab

from webapp.jobs import services, tasks
from webapp.records.services import reindex

log = logging.getLogger(__name__)
NAME = "loan-jobs"  # the same on every host: their queues are one
IDLE_POLL_SECONDS = 0.25


def make_huey(config, instance_path: str):
    """Huey from the settings; `JOBS_IMMEDIATE` runs tasks as they are enqueued (tests)."""
    if config.get("JOBS_IMMEDIATE"):
        return MemoryHuey(NAME, immediate=True, results=False)
    url = config.get("JOBS_REDIS_URL") or config.get("REDIS_URL")
    if url:
        # A short connect timeout: an unreachable Redis answers 503 within seconds, not a hung request.
        from redis import ConnectionPool

        pool = ConnectionPool.from_url(url, socket_connect_timeout=3)
        return RedisHuey(NAME, connection_pool=pool, results=False)
    path = config.get("JOBS_QUEUE_PATH") or str(Path(instance_path) / "jobs-queue.db")
    return SqliteHuey(NAME, filename=path, results=False, timeout=30)


class JobQueue:
    """The Huey instance and its tasks for one `Runtime`."""

    def __init__(self, huey, runtime: tasks.Runtime):
        self.huey, self.runtime = huey, runtime
        # Retries cover transient faults (database, model) only: run_job ends every other failure itself.
        self._run = huey.task(retries=2, retry_delay=5, name="run_job")(lambda job_id: tasks.run_job(runtime, job_id))
        # A large batch's Loan_ID index, off the web worker that recorded it, at a lower CPU priority
        # (derived data: reindex rebuilds it from the archive; until then look-ups read the archive).
        self._index = huey.task(retries=2, retry_delay=5, name="index_batch")(
            lambda batch_id: tasks.at_low_priority(reindex, runtime.database, batch_id, store=runtime.records_store))
        self._housekeeping = huey.periodic_task(crontab(minute="*"), name="housekeeping")(
            lambda: tasks.housekeeping(runtime, self.enqueue, self.waiting))

    def enqueue(self, job_id: str) -> None:
        self._run(job_id)

    def waiting(self) -> set[str]:
        """The jobs the queue's run tasks will run, due now or later (a retry waits its delay)."""
        return {task.args[0] for task in [*self.huey.pending(), *self.huey.scheduled()]
                if task.name == "run_job" and task.args}

    def index_batch(self, batch_id: str) -> None:
        self._index(batch_id)

    def recover(self) -> int:
        """At a worker's start: re-queue jobs lost by dead workers, and enqueue every queued job again
        (a task lost between dequeue and claim; duplicates find the job taken and do nothing)."""
        services.requeue_lost(self.runtime.database, self.runtime.stale_seconds)
        queued = services.queued_ids(self.runtime.database)
        for job_id in queued:
            self.enqueue(job_id)
        return len(queued)

    def consumer(self, workers: int = 1):
        # SQLite is polled (Redis blocks on the list instead): an idle worker polls at most
        # IDLE_POLL_SECONDS apart, so a job waits ~0.1 s on average to start, not ~0.5 s as at 1 s;
        # a poll is one small transaction on the queue's own file.
        return self.huey.create_consumer(workers=workers, worker_type="thread", max_delay=IDLE_POLL_SECONDS,
                                         check_worker_health=True)
