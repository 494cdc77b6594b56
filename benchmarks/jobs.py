"""A CSV scored as a job versus the synchronous `/api/v1/score`: the time from submit to the answer
downloaded, and how often progress moves.

    python -m benchmarks.jobs                 # 1M rows
    python -m benchmarks.jobs --rows 100000   # smaller, quicker
    python -m benchmarks.jobs --many 20 --rows 100000   # 20 jobs queued at once, the worker's RSS after each
    python -m benchmarks.jobs --back-to-back  # the job submitted while /score's index is still being written

In one process with the Flask test client (both sides skip the network alike): the job's task is
taken from the SQLite queue and executed on a thread, as a consumer's worker does, while the main
thread polls `GET /api/v1/jobs/{id}` every 50 ms (`--poll`). Uses the shipped model (models/loan_pipeline.joblib).
The synchronous request's decision index (handed to the jobs queue after it answers, or written on a
thread) is written before the job starts, so the job is not timed against the previous request's
leftovers; with `--back-to-back` the job's worker takes that index task first, as a real one would.

The job's time is broken down: the submit (the upload stored), the time queued (created_at →
started_at, which overlaps the submit's end), the worker (started_at → finished_at, with its row
count, its scoring into the results store and its last UPDATE apart), the end seen late by the
poll (finished_at → the poll that saw it) and the time the polls themselves took, and the download.
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from tests import factories

ROOT = Path(__file__).resolve().parents[1]


def _app(folder: Path):
    from webapp import create_app

    return create_app({"TESTING": True, "SECRET_KEY": "bench", "MODEL_PATH": str(ROOT / "models" / "loan_pipeline.joblib"),
                       "UPLOAD_FOLDER": str(folder / "uploads"), "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
                       "MODEL_STORE": str(folder / "models"), "RECORDS_URL": str(folder / "records"),
                       "JOBS_QUEUE_PATH": str(folder / "queue.db"), "MAX_CONTENT_LENGTH": 1 << 30,
                       "REQUEST_TIME_BUDGET": 3600})


def _client(app):
    from webapp.accounts import services

    with app.extensions["database"].session() as s:
        services.find_user(s, "bench@example.test") or services.create_user(s, "bench@example.test", "analyst")
        key, _ = services.create_key(s, "bench@example.test", name="bench")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@contextlib.contextmanager
def _timing(spent: dict, module, *names: str):
    """Add the wall time of each call of `module.<name>` to `spent[name]` while the block runs."""
    originals = {name: getattr(module, name) for name in names}

    def timed(name, function):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started
        return call

    for name, function in originals.items():
        setattr(module, name, timed(name, function))
    try:
        yield spent
    finally:
        for name, function in originals.items():
            setattr(module, name, function)


def _drain(response) -> int:
    """Read the whole answer, as a client downloading it would (the test client reads lazily)."""
    try:
        return sum(len(block) for block in response.iter_encoded())
    finally:
        response.close()


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _wait_for_indexing(app) -> float:
    """Write the index earlier batches left: run the index tasks queued (as the jobs worker would)
    and join the index threads still running; their time."""
    started = time.perf_counter()
    queue = app.extensions["jobs"]
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)
    for thread in threading.enumerate():
        if thread.name == "record-index":
            thread.join()
    return time.perf_counter() - started


def _work_until_the_job_ran(huey) -> None:
    """What one consumer's worker does: take tasks in order (an index task first, if queued) until
    the job's has run."""
    while True:
        task = huey.dequeue()
        if task is None:
            time.sleep(0.01)
            continue
        huey.execute(task)
        if task.name == "run_job":
            return


def run_job(client, app, body: bytes, poll: float) -> dict:
    """One job from submit to the answer downloaded, with the breakdown of its time."""
    from webapp.jobs import inputs, services
    from webapp.storage import ResultStore

    spent: dict = {}
    with _timing(spent, services, "finish"), _timing(spent, inputs, "count_rows", "save"), \
            _timing(spent, ResultStore, "create"):
        started = time.perf_counter()
        job = client.post("/api/v1/jobs", data=body, content_type="text/csv").json
        submitted = time.perf_counter()
        queue = app.extensions["jobs"]
        worker = threading.Thread(target=_work_until_the_job_ran, args=(queue.huey,))
        worker.start()
        moves, last_done, last_move, polls, polling = [], -1, time.perf_counter(), 0, 0.0
        while True:
            before = time.perf_counter()
            state = client.get(f"/api/v1/jobs/{job['id']}").json
            now = time.perf_counter()
            polls, polling = polls + 1, polling + now - before
            if state["progress"]["rows_done"] != last_done:
                moves.append(now - last_move)
                last_done, last_move = state["progress"]["rows_done"], now
            if state["state"] in ("succeeded", "failed", "cancelled"):
                seen_wall = time.time()
                break
            time.sleep(poll)
        worker.join()
        assert state["state"] == "succeeded", state["error"]
        before = time.perf_counter()
        answer = client.get(state["result"])
        assert answer.status_code == 200 and _drain(answer)
        done = time.perf_counter()
    return {"total": done - started, "submit": submitted - started, "store input": spent.get("save", 0.0),
            "queued": _wall(state["started_at"]) - _wall(state["created_at"]),
            "worker": _wall(state["finished_at"]) - _wall(state["started_at"]),
            "count rows": spent.get("count_rows", 0.0), "score into the store": spent.get("create", 0.0),
            "finish UPDATE": spent.get("finish", 0.0), "end seen late": seen_wall - _wall(state["finished_at"]),
            "polls": polls, "in polls": polling, "download": done - before, "moves": moves}


def _breakdown(timing: dict) -> str:
    return (f"submit {timing['submit']:.2f} s (storing the input {timing['store input']:.2f} s); "
            f"queued {timing['queued']:.2f} s; worker {timing['worker']:.2f} s (count rows "
            f"{timing['count rows']:.2f} s, score into the results store {timing['score into the store']:.2f} s, "
            f"finish UPDATE {timing['finish UPDATE']:.2f} s); end seen {timing['end seen late']:.2f} s late; "
            f"{timing['polls']} polls took {timing['in polls']:.2f} s; download {timing['download']:.2f} s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between status polls (the page: 1)")
    parser.add_argument("--many", type=int, default=0, help="queue this many jobs at once instead")
    parser.add_argument("--back-to-back", action="store_true",
                        help="do not wait for /score's index before the job (as this benchmark did until 2026-12-01)")
    args = parser.parse_args(argv)
    if args.many:
        return many(args.many, args.rows)
    body = factories.applications(args.rows, seed=7).to_csv(index=False).encode()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "uploads").mkdir()
        app = _app(folder)
        client = _client(app)

        started = time.perf_counter()
        sync = client.post("/api/v1/score", data=body, content_type="text/csv")
        assert sync.status_code == 200, sync.data[:300]
        assert _drain(sync)
        sync_seconds = time.perf_counter() - started

        indexing = 0.0 if args.back_to_back else _wait_for_indexing(app)
        timing = run_job(client, app, body, args.poll)
        _wait_for_indexing(app)
        app.extensions["database"].dispose()
    job_seconds, moves = timing["total"], timing["moves"]
    waited = "not waited for" if args.back_to_back else f"then {indexing:.2f} s more, waited for"
    print(f"{args.rows:,} rows: synchronous /score {sync_seconds:.2f} s (its index {waited}); job submit→downloaded "
          f"{job_seconds:.2f} s ({job_seconds / sync_seconds:.2f}×); progress moved {len(moves)} times, longest "
          f"still {max(moves[1:] or moves):.2f} s")
    print(f"the job: {_breakdown(timing)}")


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def many(jobs: int, rows: int) -> None:
    """`jobs` jobs of `rows` rows queued at once, then run one after another by one worker (this
    process); every one must succeed, and the RSS after each shows whether memory stays flat."""
    import resource

    body = factories.applications(rows, seed=9).to_csv(index=False).encode()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "uploads").mkdir()
        app = _app(folder)
        client = _client(app)
        ids = [client.post("/api/v1/jobs", data=body, content_type="text/csv").json["id"] for _ in range(jobs)]
        queue = app.extensions["jobs"]
        started, after = time.perf_counter(), []
        for _ in ids:
            queue.huey.execute(queue.huey.dequeue())
            after.append(_rss_mib())
        seconds = time.perf_counter() - started
        states = [client.get(f"/api/v1/jobs/{job_id}").json["state"] for job_id in ids]
        app.extensions["database"].dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{jobs} jobs of {rows:,} rows: {states.count('succeeded')} succeeded in {seconds:.1f} s; RSS after each "
          f"job (MiB) {', '.join(f'{m:.0f}' for m in after)}; peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
