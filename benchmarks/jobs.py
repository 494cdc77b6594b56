"""A CSV scored as a job versus the synchronous `/api/v1/score`: the time from submit to the answer
downloaded, and how often progress moves.

    python -m benchmarks.jobs                 # 1M rows
    python -m benchmarks.jobs --rows 100000   # smaller, quicker
    python -m benchmarks.jobs --many 20 --rows 100000   # 20 jobs queued at once, the worker's RSS after each

In one process with the Flask test client (both sides skip the network alike): the job's task is
taken from the SQLite queue and executed on a thread, as a consumer's worker does, while the main
thread polls `GET /api/v1/jobs/{id}` every 50 ms (`--poll`). Uses the shipped model (models/loan_pipeline.joblib).
"""
from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between status polls (the page: 1)")
    parser.add_argument("--many", type=int, default=0, help="queue this many jobs at once instead")
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
        sync_seconds = time.perf_counter() - started
        queue = app.extensions["jobs"]
        while (task := queue.huey.dequeue()) is not None:  # the synchronous batch's index, as the worker writes it
            queue.huey.execute(task)

        started = time.perf_counter()
        job = client.post("/api/v1/jobs", data=body, content_type="text/csv").json
        worker = threading.Thread(target=lambda: queue.huey.execute(queue.huey.dequeue()))
        worker.start()
        moves, last_done, last_move = [], -1, time.perf_counter()
        while True:
            state = client.get(f"/api/v1/jobs/{job['id']}").json
            now = time.perf_counter()
            if state["progress"]["rows_done"] != last_done:
                moves.append(now - last_move)
                last_done, last_move = state["progress"]["rows_done"], now
            if state["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(args.poll)
        worker.join()
        assert state["state"] == "succeeded", state["error"]
        answer = client.get(state["result"])
        assert answer.status_code == 200
        job_seconds = time.perf_counter() - started
        app.extensions["database"].dispose()
    print(f"{args.rows:,} rows: synchronous /score {sync_seconds:.2f} s; job submit→downloaded {job_seconds:.2f} s "
          f"({job_seconds / sync_seconds:.2f}×); progress moved {len(moves)} times, longest still "
          f"{max(moves[1:] or moves):.2f} s")


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
