"""Benchmarks: one command, one table, every figure from the same run.

    python -m benchmarks.run                 # 1k, 100k, 1M rows; MLflow side by side if its venv exists
    python -m benchmarks.run --sizes 1000,100000 --no-mlflow
    python -m benchmarks.run --setup-mlflow  # create benchmarks/.venv-mlflow first (mlflow is never a
                                             # dependency of the service itself)
    python -m benchmarks.run --setup-bentoml # create benchmarks/.venv-bentoml, for benchmarks/peers.py

Rows are drawn from ../shared/data/loan_test.csv with fresh IDs (benchmarks/data/, git-ignored).
The machine is shared and noisy: compare the ratios, which are taken within one run.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import data

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
PY = sys.executable
MODEL = ROOT / "models" / "loan_pipeline.joblib"
MLFLOW_VENV = HERE / ".venv-mlflow"
BENTOML_VENV = HERE / ".venv-bentoml"  # benchmarks/peers.py serves the artifact with BentoML from here
MLFLOW_PINS = ["mlflow==3.17.2", "scikit-learn==1.9.1", "pandas==3.1.1", "numpy==2.4.6", "scipy==1.17.1",
               "joblib==1.6.0", "Flask-WTF==1.3.0", "python-calamine==0.9.1", "openpyxl==3.1.5",
               "defusedxml==0.7.1"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- measuring ---------------------------------------------------------------------------------

def run_child(argv: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run a command; return (seconds, its own peak RSS in MB, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{argv} failed: {process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out.decode()


REPEAT = 3  # each figure is the median of this many runs (set by --repeat)


def median_of(measure) -> dict:
    """Run `measure()` REPEAT times; the median seconds, and the largest peak RSS seen."""
    runs = [measure() for _ in range(REPEAT)]
    seconds = statistics.median(r["seconds"] for r in runs)
    return {**runs[0], "seconds": seconds, "peak_rss_mb": max(r.get("peak_rss_mb") or 0 for r in runs)}


def workload(name: str, source: Path) -> dict:
    def once():
        _, rss, out = run_child([PY, "-m", "benchmarks.workloads", name, str(source), "/dev/null"])
        result = json.loads(out.strip().splitlines()[-1])
        result["peak_rss_mb"] = round(rss, 1)
        return result

    return median_of(once)


def cli_score(source: Path) -> dict:
    out = HERE / "data" / "cli-out.csv"

    def once():
        seconds, rss, _ = run_child([str(Path(PY).parent / "flask"), "--app", "webapp", "score", str(source),
                                     "--output", str(out)])
        out.unlink(missing_ok=True)
        return {"seconds": round(seconds, 3), "peak_rss_mb": round(rss, 1)}

    return median_of(once)


def upload(port: int, path: str, body: bytes, content_type: str, check) -> float:
    """Median seconds of REPEAT uploads, each answer checked."""
    times = []
    for _ in range(REPEAT):
        status, payload, seconds = post(port, path, body, content_type)
        check(status, payload)
        times.append(seconds)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port: int, path: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server did not come up")


def tree_peak_rss_mb(pid: int) -> float:
    """Largest peak RSS (VmHWM) among a server process and its descendants."""
    peaks, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            peaks.extend(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return max(peaks, default=0) / 1024


def post(port: int, path: str, body: bytes, content_type: str, connection=None) -> tuple[int, bytes, float]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    started = time.perf_counter()
    connection.request("POST", path, body=body, headers={"Content-Type": content_type, **AUTH})
    response = connection.getresponse()
    payload = response.read()
    seconds = time.perf_counter() - started
    if own:
        connection.close()
    return response.status, payload, seconds


def multipart(path: Path, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def latency(port: int, path: str, body: bytes, content_type: str, count: int, keep_alive: bool = True) -> dict:
    """p50/p99 over `count` sequential requests, on one keep-alive connection or a fresh one each
    (servers differ: MLflow's stalls on keep-alive, a delayed-ACK interaction, so publish both)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60) if keep_alive else None
    for _ in range(10):
        post(port, path, body, content_type, connection)
    times = []
    for _ in range(count):
        status, _, seconds = post(port, path, body, content_type, connection)
        if status != 200:
            raise RuntimeError(f"status {status}")
        times.append(seconds * 1000)
    if connection:
        connection.close()
    return percentiles(times)


def percentiles(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2)}


def in_process_single_row(count: int) -> dict:
    code = f"""
import json, time, statistics, pandas as pd, joblib
pipeline = joblib.load({str(MODEL)!r})
row = pd.read_csv({str(data.SOURCE)!r}).head(1)
for _ in range(20): pipeline.predict_proba(row)
times = []
for _ in range({count}):
    t = time.perf_counter(); pipeline.predict_proba(row); times.append((time.perf_counter() - t) * 1000)
times.sort()
print(json.dumps({{"p50_ms": round(statistics.median(times), 2), "p99_ms": round(times[int(len(times) * 0.99)], 2)}}))
"""
    _, _, out = run_child([PY, "-c", code])
    return json.loads(out)


# --- servers -----------------------------------------------------------------------------------

class Server:
    def __init__(self, argv, port, health, env=None, cwd=ROOT):
        self.port = port
        self.log = open(HERE / "data" / f"server-{port}.log", "w")
        self.process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(port, health, self.process)

    def peak_rss_mb(self) -> float:
        return tree_peak_rss_mb(self.process.pid)

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()


AUTH: dict[str, str] = {}  # our server's API key header, once it is started


def ours() -> Server:
    """Ours as `make run` serves it (accounts, the decision record on SQLite, gevent workers), with a key."""
    import tempfile

    from benchmarks import peers

    server, headers = peers.ours(None, Path(tempfile.mkdtemp(prefix="bench-ours-")))
    AUTH.update(headers)
    return server


def mlflow_server() -> Server | None:
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        return None
    model_dir = HERE / "data" / "mlflow-model"
    if not model_dir.exists():
        subprocess.run([str(python), "-c", f"""
import joblib, mlflow.sklearn
mlflow.sklearn.save_model(joblib.load({str(MODEL)!r}), {str(model_dir)!r}, serialization_format="cloudpickle",
                          code_paths=[{str(ROOT / 'webapp')!r}])
"""], cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    return Server([str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager",
                   "local", "-h", "127.0.0.1", "-p", str(port), "-w", "2"], port, "/ping",
                  {"PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}", "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": "900",
                   "GUNICORN_CMD_ARGS": "--timeout 900"}, cwd=HERE / "data")


def setup_mlflow() -> None:
    subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    subprocess.run([str(MLFLOW_VENV / "bin" / "pip"), "install", "-q", *MLFLOW_PINS], check=True)


def setup_bentoml() -> None:
    """bentoml 1.4 plus the service's pinned requirements, so the artifact (which refers to
    webapp.model.transformers and, through webapp/__init__, Flask) unpickles as it does for us."""
    subprocess.run([sys.executable, "-m", "venv", str(BENTOML_VENV)], check=True)
    subprocess.run([str(BENTOML_VENV / "bin" / "pip"), "install", "-q", "bentoml==1.4.*", "-r",
                    str(ROOT / "requirements.txt")], check=True)


# --- the run -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--xlsx-sizes", default="1000,100000")
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--setup-mlflow", action="store_true")
    parser.add_argument("--setup-bentoml", action="store_true", help="create benchmarks/.venv-bentoml and stop "
                        "(then: python -m benchmarks.peers)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is shown")
    args = parser.parse_args()
    global REPEAT
    REPEAT = args.repeat
    if args.setup_mlflow:
        setup_mlflow()
    if args.setup_bentoml:
        setup_bentoml()
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    xlsx_sizes = [int(s) for s in args.xlsx_sizes.split(",") if s]
    rows: list[tuple] = []  # (what, rows, seconds, rows/s, peak RSS MB, note)
    results: dict = {"machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
                     "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv)}

    def add(what, n, seconds, rss=None, note=""):
        rows.append((what, n, seconds, n / seconds if seconds else 0, rss, note))
        print(f"  {what:44s} {n:>9,} rows {seconds:8.3f} s {n / seconds:>11,.0f} rows/s"
              + (f" {rss:7.0f} MB" if rss else "") + (f"  {note}" if note else ""), flush=True)

    print("generating data …", flush=True)
    csv_files = {n: data.csv_file(n) for n in sizes}
    xlsx_files = {n: data.xlsx_file(n) for n in xlsx_sizes}

    print("in process:", flush=True)
    floor = {}
    for n, path in csv_files.items():
        f = workload("floor", path)
        floor[n] = f["seconds"]
        add("floor: read_csv+predict_proba+to_csv", n, f["seconds"], f["peak_rss_mb"])
        c = workload("core", path)
        add("core (webapp.core.scoring + write_csv)", n, c["seconds"], c["peak_rss_mb"], f"{f['seconds'] / c['seconds']:.2f}x floor")
        if n >= 100_000:  # what the batch statistics cost, by difference (same rows)
            w = workload("core_without_drift", path)
            add("core without drift checks", n, w["seconds"], w["peak_rss_mb"],
                f"drift adds {c['seconds'] / w['seconds'] - 1:+.0%}")
            e = workload("core", data.labelled_csv_file(n))
            add("core, labelled input (evaluation)", n, e["seconds"], e["peak_rss_mb"],
                f"evaluation adds {e['seconds'] / c['seconds'] - 1:+.0%}")
        cli = cli_score(path)
        add("flask score (whole command)", n, cli["seconds"], cli["peak_rss_mb"], "incl. start-up")
    for n, path in xlsx_files.items():
        o = workload("openpyxl_read", path)
        add("xlsx read: pandas + openpyxl", n, o["seconds"], o["peak_rss_mb"])
        c = workload("calamine_read", path)
        add("xlsx read: ours (checks + calamine)", n, c["seconds"], c["peak_rss_mb"], f"{o['seconds'] / c['seconds']:.1f}x openpyxl")
    single = in_process_single_row(args.latency_requests)
    results["in_process_single_row"] = single
    print(f"  in-process predict_proba, 1 row: p50 {single['p50_ms']} ms, p99 {single['p99_ms']} ms", flush=True)

    (HERE / "data" / "uploads").mkdir(exist_ok=True)
    print("HTTP, ours (gunicorn, 2 workers):", flush=True)
    server = ours()
    try:
        for n, path in csv_files.items():
            body, content_type = multipart(path, "text/csv")

            def check(status, payload, n=n):
                assert status == 200 and payload.count(b"\n") == n + 1, (status, payload[:300])

            seconds = upload(server.port, "/api/v1/score", body, content_type, check)
            add("POST multipart CSV -> CSV", n, seconds, server.peak_rss_mb(), f"{floor[n] / seconds:.2f}x floor")
            explained = upload(server.port, "/api/v1/score?explain=true", body, content_type, check)
            add("POST multipart CSV -> CSV, explain=true", n, explained, server.peak_rss_mb(),
                f"{explained / seconds:.2f}x the time without")
        for n, path in xlsx_files.items():
            body, content_type = multipart(path, XLSX)

            def check(status, payload):
                assert status == 200, (status, payload[:300])

            seconds = upload(server.port, "/api/v1/score", body, content_type, check)
            add("POST multipart .xlsx -> CSV", n, seconds, server.peak_rss_mb())
        record = json.dumps([json.loads(data.sample(1).to_json(orient="records"))[0]]).encode()
        ours_latency = latency(server.port, "/api/v1/score", record, "application/json", args.latency_requests)
        results["ours_single_record"] = ours_latency
        print(f"  single-record JSON: p50 {ours_latency['p50_ms']} ms, p99 {ours_latency['p99_ms']} ms "
              f"(in-process + {ours_latency['p50_ms'] - single['p50_ms']:.2f} ms at p50)", flush=True)
        fresh = latency(server.port, "/api/v1/score", record, "application/json", args.latency_requests,
                        keep_alive=False)
        results["ours_single_record_fresh_connections"] = fresh
        print(f"  single-record JSON, a fresh connection each: p50 {fresh['p50_ms']} ms, p99 {fresh['p99_ms']} ms",
              flush=True)
        explained_latency = latency(server.port, "/api/v1/score?explain=true", record, "application/json",
                                    args.latency_requests)
        results["ours_single_record_explained"] = explained_latency
        print(f"  single-record JSON, explain=true: p50 {explained_latency['p50_ms']} ms, p99 "
              f"{explained_latency['p99_ms']} ms (+{explained_latency['p50_ms'] - ours_latency['p50_ms']:.2f} ms at "
              "p50)", flush=True)
    finally:
        server.stop()

    mlflow = None if args.no_mlflow else mlflow_server()
    if mlflow:
        print("HTTP, MLflow scoring server (same artifact, 2 workers):", flush=True)
        try:
            for n, path in csv_files.items():
                def check(status, payload, n=n):
                    assert status == 200, f"MLflow answered {status} for {n:,} rows: {payload[:200]!r}"

                try:
                    seconds = upload(mlflow.port, "/invocations", path.read_bytes(), "text/csv", check)
                except AssertionError as failure:
                    print(f"  {failure}")
                    continue
                ours_row = next(r for r in rows if r[0] == "POST multipart CSV -> CSV" and r[1] == n)
                add("MLflow POST text/csv -> JSON labels", n, seconds, mlflow.peak_rss_mb(),
                    f"ours/MLflow rows/s = {seconds / ours_row[2]:.2f}")
            record = json.dumps({"dataframe_records": [json.loads(data.sample(1).to_json(orient="records"))[0]]}).encode()
            mlflow_latency = latency(mlflow.port, "/invocations", record, "application/json", args.latency_requests)
            results["mlflow_single_record"] = mlflow_latency
            results["mlflow_single_record_fresh_connections"] = latency(
                mlflow.port, "/invocations", record, "application/json", args.latency_requests, keep_alive=False)
            print(f"  MLflow single-record JSON: p50 {mlflow_latency['p50_ms']} ms, p99 {mlflow_latency['p99_ms']} ms "
                  f"(ours/MLflow p50 = {results['ours_single_record']['p50_ms'] / mlflow_latency['p50_ms']:.2f})",
                  flush=True)
        finally:
            mlflow.stop()
    elif not args.no_mlflow:
        print("MLflow: skipped (no benchmarks/.venv-mlflow; run with --setup-mlflow)")

    results["rows"] = [dict(zip(("what", "rows", "seconds", "rows_per_s", "peak_rss_mb", "note"), r)) for r in rows]
    (HERE / "data" / "last-run.json").write_text(json.dumps(results, indent=2))
    print_table(rows, results)


def print_table(rows, results) -> None:
    print(f"\n{results['machine']}; {results['date']}; {results['command']}\n")
    print(f"| {'what':44s} | {'rows':>9s} | {'seconds':>8s} | {'rows/s':>10s} | {'peak RSS MB':>11s} | note |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 10}|{'-' * 12}|{'-' * 13}|------|")
    for what, n, seconds, rate, rss, note in rows:
        rss_text = f"{rss:,.0f}" if rss else ""
        print(f"| {what:44s} | {n:>9,} | {seconds:>8.3f} | {rate:>10,.0f} | {rss_text:>11s} | {note} |")
    for key in ("in_process_single_row", "ours_single_record", "ours_single_record_fresh_connections",
                "ours_single_record_explained", "mlflow_single_record", "mlflow_single_record_fresh_connections"):
        if key in results:
            print(f"| {key.replace('_', ' ')} latency | 1 | p50 {results[key]['p50_ms']} ms | p99 {results[key]['p99_ms']} ms | | |")


if __name__ == "__main__":
    main()
