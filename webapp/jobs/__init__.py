"""Batch jobs: an input (an uploaded file, or a dataset under `JOB_SOURCES`) scored later by a worker,
its progress written to the database as it goes, its answer kept in the results store.

- `models`: the `jobs` table.
- `services`: the operations — submit (with idempotency keys), get and list (owner-scoped), cancel,
  claim, progress, seal (the point past which a cancel is refused), finish, and the requeue of jobs
  found running on no live worker.
- `sources`: the fence around dataset sources (only under a `JOB_SOURCES` prefix).
- `inputs`: a queued job's upload, kept owner-only in the results store until the job ends.
- `queue`: the Huey instance (SQLite in the instance folder, or Redis) and its tasks (`run_job`, the
  periodic purge and requeue), registered over a `Runtime` of the app's parts — never the app itself.
- `tasks`: what a worker does with one job: safe to run twice.

May import: the standard library, SQLAlchemy, huey, redis, fsspec, pandas, pyarrow, and `webapp.service`,
`webapp.engines`, `webapp.records`, `webapp.accounts`, `webapp.registry`, `webapp.storage`, `webapp.db`,
`webapp.core`, `webapp.model`, `webapp.stats`. Never Flask or the web layer.
"""
from webapp.jobs.models import STATES, Job
from webapp.jobs.services import (JobConflict, JobError, JobFinishing, JobNotFound, QueueUnavailable, SourceRefused,
                                  cancel, get_job, job_document, list_jobs, submit)

__all__ = ["STATES", "Job", "JobConflict", "JobError", "JobFinishing", "JobNotFound", "QueueUnavailable",
           "SourceRefused", "cancel", "get_job", "job_document", "list_jobs", "submit"]
