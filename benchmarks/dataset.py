"""Datasets past one process: `flask score` on N Parquet parts, single process vs Dask, in one run.

    python -m benchmarks.dataset                       # 10,000,000 rows in 10 parts
    python -m benchmarks.dataset --rows 2000000 --parts 4

Each engine runs as the whole `flask score` command (start-up included), its output a folder of
Parquet parts. Dask runs twice: with the LocalCluster the command starts itself (2 workers on this
2-core machine), and against a cluster started beforehand (`dask scheduler` + 2 `dask worker`
processes on 127.0.0.1), which is how a standing cluster is used. Peak RSS is sampled from /proc for
every process of the run (the command, and the scheduler and workers). Rows come from
../shared/data/loan_test.csv with fresh IDs (benchmarks/data/, git-ignored).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import data

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def parts_folder(rows: int, parts: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = data.DATA / f"dataset-{rows}-{parts}"
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    per_part = rows // parts
    base = data.sample(per_part, seed=0)
    for number in range(parts):
        frame = base.copy()
        frame["Loan_ID"] = [f"D{number:03d}{i:08d}" for i in range(per_part)]
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"part-{number:03d}.parquet",
                       row_group_size=250_000)
    return folder


def tree_rss(root_pids: list[int], peaks: dict[int, float]) -> None:
    """Record the peak RSS (VmHWM, MB) of every live process under `root_pids`."""
    todo = list(root_pids)
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]) / 1024)
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue


def timed(argv: list[str], watch: list[int] = ()) -> tuple[float, dict[int, float], str]:
    peaks: dict[int, float] = {}
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while process.poll() is None:
        tree_rss([process.pid, *watch], peaks)
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    _, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"{argv} failed: {err.decode()[-2000:]}")
    return seconds, peaks, err.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def standing_cluster(workers: int):
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, as an operator would run them."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", "127.0.0.1:0", "--no-show"], cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(3)
    worker_processes = [subprocess.Popen([str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                                          "--host", "127.0.0.1", "--no-dashboard", "--preload", "webapp.engines.parts"], cwd=ROOT, env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                        for _ in range(workers)]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(workers, timeout=60)
    return address, [scheduler, *worker_processes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    folder = parts_folder(args.rows, args.parts)
    out = data.DATA / "dataset-out"
    score = [str(BIN / "flask"), "--app", "webapp", "score", str(folder), "--format", "parquet",
             "--output", f"{out}/"]

    def run(name: str, extra: list[str], watch: list[int] = ()) -> dict:
        times, peaks = [], {}
        for _ in range(args.repeat):
            shutil.rmtree(out, ignore_errors=True)
            seconds, run_peaks, _ = timed(score + extra, watch)
            times.append(seconds)
            peaks = {**peaks, **run_peaks}
        seconds = statistics.median(times)
        ordered = sorted(peaks.values(), reverse=True)
        print(f"  {name:44s} {args.rows:>11,} rows {seconds:8.2f} s {args.rows / seconds:>11,.0f} rows/s  "
              f"peak RSS per process MB: {', '.join(f'{p:,.0f}' for p in ordered[:6])}", flush=True)
        return {"seconds": seconds, "peaks": ordered}

    print(f"{args.rows:,} rows in {args.parts} Parquet parts; output: a folder of Parquet parts; "
          f"{os.cpu_count()} cores", flush=True)
    single = run("single process (--engine local)", ["--engine", "local"])
    own = run("Dask, LocalCluster started by the command", ["--engine", "dask"])
    address, processes = standing_cluster(2)
    try:
        standing = run("Dask, standing cluster (2 workers)", ["--engine", "dask", "--scheduler", address],
                       [p.pid for p in processes])
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    print(f"\nrows/s vs single process: LocalCluster {single['seconds'] / own['seconds']:.2f}x, "
          f"standing cluster {single['seconds'] / standing['seconds']:.2f}x")
    print(f"per-part cost, single process: {single['seconds'] / args.parts:.2f} s per {args.rows // args.parts:,} rows")


if __name__ == "__main__":
    main()
