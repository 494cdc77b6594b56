"""The Dask engine: one task per part on a distributed cluster, the model sent to each worker once.

Workers run `parts.score_part`, the same function as the local engine, so answers are identical.
The loaded model is scattered to every worker once (broadcast) and tasks receive a reference to
it, not a copy each. Workers need the project installed (`pip install .` with requirements.txt), as
with any Dask deployment, and must reach the input, output and scratch locations (a shared folder
or object storage, any fsspec URL). A worker that dies mid-task has its task retried elsewhere by
the scheduler; one that keeps dying ends the run with a clear error and no output.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable

from webapp.engines.parts import DatasetError, Options, PartResult, score_part

CONNECT_TIMEOUT = "10s"
PRELOAD = "webapp.engines.parts"  # also for standing workers: dask worker ADDRESS --preload webapp.engines.parts


def run(urls: list[str], model, options: Options, scratch: str, progress: Callable[[int], None],
        scheduler: str | None = None) -> list[PartResult]:
    from distributed import as_completed

    with _client(scheduler) as client:
        shared_model = _scatter(client, model)
        run_id = uuid.uuid4().hex[:8]
        futures = [client.submit(score_part, index, url, shared_model, options, scratch, pure=False,
                                 key=f"score-part-{run_id}-{index:05d}") for index, url in enumerate(urls)]
        results = []
        try:
            for future in as_completed(futures):
                results.append(_result(future))
                progress(1)
        finally:
            client.cancel(futures)
        return results


@contextlib.contextmanager
def _client(scheduler: str | None):
    """A client of the cluster at `scheduler` (or DASK_SCHEDULER_ADDRESS), or of a LocalCluster
    sized to this machine, bound to 127.0.0.1 (its HTTP endpoint on a free loopback port)."""
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise DatasetError(f"Cannot reach the Dask scheduler at {address} ({type(exc).__name__}: {exc}). "
                               "Check the address and that the scheduler is running.",
                               code="scheduler-unreachable") from None
        with client:
            yield client
        return
    # Workers import the scoring code as they start (preload), not on their first task.
    with LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", preload=[PRELOAD]) as cluster, Client(cluster) as client:
        yield client


def _scatter(client, model, attempts: int = 3):
    """The model, sent once to every worker. A worker that dies meanwhile fails the broadcast; the
    workers left (and its restarted self) are tried again, a few times."""
    from distributed.comm.core import CommClosedError

    for attempt in range(attempts):
        try:
            return client.scatter(model, broadcast=True, hash=False)
        except (CommClosedError, OSError) as exc:
            if attempt == attempts - 1:
                raise DatasetError(f"Dask workers kept going away while the model was sent to them ({exc}).",
                                   code="worker-died") from None
    raise AssertionError("unreachable")


def _result(future) -> PartResult:
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as exc:
        raise DatasetError(f"A Dask worker died while scoring a part ({exc}); the run was stopped and no output "
                           "was written.", code="worker-died") from None
