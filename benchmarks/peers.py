"""Ours beside BentoML and MLflow, the same artifact, one run: single records and big CSV uploads.

    python -m benchmarks.run --setup-bentoml          # once: benchmarks/.venv-bentoml
    python -m benchmarks.peers                        # 100k and 1M rows; peers whose venv exists
    python -m benchmarks.peers --ours-workers gthread,gevent --sizes 1000000 --no-peers

`--ours-workers` starts our server once per gunicorn worker class (the default: the one
gunicorn.conf.py sets), to compare them in one run. Every figure is the median of `--repeat`
uploads; single records are `--requests` sequential requests on one keep-alive connection and on
a fresh connection each. The machine is shared and noisy: compare ratios within one run.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import data
from benchmarks.run import (BENTOML_VENV, MLFLOW_VENV, ROOT, Server, free_port, mlflow_server, multipart, percentiles,
                            workload)

ADMIN = ("bench@example.test", "bench-admin-passphrase")


def request(port, method, path, body=None, headers=None, connection=None):
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    seconds = time.perf_counter() - started
    if own:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{method} {path} answered {response.status}: {payload[:300]!r}")
    return payload, seconds


def single_record(port, path, body, headers, count, keep_alive):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60) if keep_alive else None
    for _ in range(10):
        request(port, "POST", path, body, headers, connection)
    times = [request(port, "POST", path, body, headers, connection)[1] * 1000 for _ in range(count)]
    if connection:
        connection.close()
    return percentiles(times)


def ours(worker_class: str | None, tmp: Path) -> tuple[Server, dict]:
    """Our server and job worker as `make run` starts them (optionally another gunicorn worker
    class), and its API key header."""
    port = free_port()
    env = {"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "SECRET_KEY": "bench", "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
           "UPLOAD_FOLDER": str(tmp / "uploads"), "MAX_CONTENT_LENGTH": str(200 * 2**20),
           "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "MODEL_STORE": str(tmp / "models"),
           "ADMIN_EMAIL": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1], "PYTHONPATH": str(ROOT),
           "JOBS_QUEUE_PATH": str(tmp / "jobs-queue.db")}
    (tmp / "uploads").mkdir(parents=True, exist_ok=True)
    if worker_class:
        env["GUNICORN_CMD_ARGS"] = f"--worker-class {worker_class}"
    made = subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", "keys", "create", ADMIN[0],
                           "--name", "bench"], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                          check=True)
    key = made.stdout.strip().splitlines()[-1]
    # The server and one job worker, as `make run` starts them: the worker writes large batches' indexes.
    server = Server([sys.executable, "scripts/supervise.py", "Procfile"], port, "/healthz", env)
    return server, {"Authorization": f"Bearer {key}"}


def bentoml_server() -> Server | None:
    if not (BENTOML_VENV / "bin" / "bentoml").exists():
        return None
    port = free_port()
    return Server([str(BENTOML_VENV / "bin" / "bentoml"), "serve", "benchmarks.bento_service:LoanScoring",
                   "--host", "127.0.0.1", "--port", str(port)], port, "/readyz",
                  {"PYTHONPATH": str(ROOT), "PATH": f"{BENTOML_VENV / 'bin'}:{os.environ['PATH']}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--ours-workers", default="", help="gunicorn worker classes to compare, comma-separated")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    files = {n: data.csv_file(n) for n in sizes}
    records = json.loads(data.sample(1).to_json(orient="records"))
    test_csv = data.SOURCE.read_bytes()
    table, answers = [], {}
    machine = f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}"
    started = datetime.now(UTC).isoformat(timespec="seconds")

    singles = {}

    def measure(name, server, single_path, single_body, headers, upload, parse, single_parse=None):
        row = {"server": name}
        if single_parse is not None:  # the single-record API answers as the file API does
            singles[name] = single_parse(request(server.port, "POST", single_path, single_body,
                                                 {**headers, "Content-Type": "application/json"})[0])
        for keep_alive in (True, False):
            figure = single_record(server.port, single_path, single_body, {**headers, "Content-Type":
                                   "application/json"}, args.requests, keep_alive)
            row["keep-alive p50 ms" if keep_alive else "fresh p50 ms"] = figure["p50_ms"]
        payload, _ = upload(server, test_csv)
        answers[name] = parse(payload)
        for n, path in files.items():
            body = path.read_bytes()
            seconds = statistics.median(upload(server, body)[1] for _ in range(args.repeat))
            row[f"{n:,} rows s"] = round(seconds, 2)
        row["peak RSS MB"] = round(server.peak_rss_mb())
        table.append(row)
        print(row, flush=True)

    def ours_upload(headers):
        def upload(server, body):
            multipart_body, content_type = multipart_bytes(body)
            return request(server.port, "POST", "/api/v1/score", multipart_body,
                           {**headers, "Content-Type": content_type, "Accept": "text/csv"})
        return upload

    def ours_parse(payload):
        frame = pd.read_csv(io.BytesIO(payload))
        column = next(c for c in frame.columns if "prob" in c.lower())
        return frame[column].to_numpy(dtype=float)

    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        for worker_class in args.ours_workers.split(",") if args.ours_workers else [None]:
            name = f"ours ({worker_class or 'default'})"
            server, headers = ours(worker_class, Path(tmp) / (worker_class or "default"))
            try:
                measure(name, server, "/api/v1/score", json.dumps(records).encode(), headers,
                        ours_upload(headers), ours_parse,
                        lambda payload: json.loads(payload)["predictions"][0]["Approval_Probability"])
            finally:
                server.stop()
    if not args.no_peers:
        bento = bentoml_server()
        if bento:
            try:
                measure("BentoML 1.4", bento, "/predict", json.dumps({"df": records}).encode(), {},
                        lambda server, body: request(server.port, "POST", "/predict_csv", *multipart_file(body)),
                        lambda payload: np.asarray(json.loads(payload), dtype=float),
                        lambda payload: json.loads(payload)[0])
            finally:
                bento.stop()
        else:
            print("BentoML: skipped (no benchmarks/.venv-bentoml; run benchmarks.run --setup-bentoml)")
        mlflow = mlflow_server() if MLFLOW_VENV.exists() else None
        if mlflow:
            try:
                measure("MLflow", mlflow, "/invocations", json.dumps({"dataframe_records": records}).encode(), {},
                        lambda server, body: request(server.port, "POST", "/invocations", body,
                                                     {"Content-Type": "text/csv"}),
                        lambda payload: np.asarray(json.loads(payload)["predictions"], dtype=float))
            finally:
                mlflow.stop()
        else:
            print("MLflow: skipped (no benchmarks/.venv-mlflow; run benchmarks.run --setup-mlflow)")
    floor = {n: workload("floor", path)["seconds"] for n, path in files.items()}  # read_csv, predict_proba, to_csv
    table.append({"server": "naive in-process floor", **{f"{n:,} rows s": round(s, 2) for n, s in floor.items()}})
    # Our CSV rounds probabilities to 4 decimals and leaves rows that fail validation unscored.
    reference = next(iter(answers.values()))
    mismatched = []
    for name, values in answers.items():
        scored = ~np.isnan(reference)
        same = len(values) == len(reference) and np.allclose(values[scored], reference[scored], rtol=0, atol=5e-5)
        labels = set(np.unique(values)) <= {0.0, 1.0}  # MLflow's sklearn flavour answers predict(), not proba
        print(f"{name}: {len(values)} answers for loan_test.csv, {int(scored.sum())} compared: "
              + ("the same probabilities (to 4 decimals)" if same else "labels, not probabilities" if labels
                 else "MISMATCH"))
        if not same and not labels:
            mismatched.append(name)
    print(f"\n{machine}; {started}; {' '.join(['python -m benchmarks.peers', *sys.argv[1:]])}\n")
    columns = list(table[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in table:
        print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    print()
    for row in table:  # issue 26: at least 2x MLflow's rows/s and 1.5x the naive floor's, in the same run
        if not row["server"].startswith("ours"):
            continue
        for n in sizes:
            key = f"{n:,} rows s"
            others = {r["server"]: r[key] for r in table if r is not row and r.get(key)}
            print(f"{row['server']}, {n:,} rows: " + ", ".join(f"{other / row[key]:.2f}x the rows/s of {name}"
                                                             for name, other in others.items()))
    ours_single = next((value for name, value in singles.items() if name.startswith("ours")), None)
    for name, value in singles.items():  # ours rounds to 4 decimals
        same = isinstance(value, float) and ours_single is not None and abs(value - ours_single) <= 5e-5
        print(f"{name}: the single record's probability {value!r}" + ("" if same else " MISMATCH"))
        if not same:
            mismatched.append(f"{name} (one record)")
    if mismatched:  # a figure for a server that answers differently compares nothing
        sys.exit(f"answers differ from ours: {', '.join(mismatched)}")


def multipart_bytes(body: bytes) -> tuple[bytes, str]:
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(body)
        f.flush()
        return multipart(Path(f.name), "text/csv")


def multipart_file(body: bytes) -> tuple[bytes, dict]:
    multipart_body, content_type = multipart_bytes(body)
    return multipart_body, {"Content-Type": content_type}


if __name__ == "__main__":
    main()
