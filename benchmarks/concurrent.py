"""Eight 1M-row CSV uploads at once to ours as `make run` serves it (two gevent workers, the job
worker, the decision record on SQLite, the key checked): every answer's status, each upload's time,
the wall time for all, and memory — the peak RSS of the largest process and the peak PSS of all
the server's processes together, sampled every 0.2 s.

    python -m benchmarks.concurrent                      # 8 x 1M rows
    python -m benchmarks.concurrent --uploads 2 --rows 10000   # CI-sized
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import data
from benchmarks.peers import multipart_bytes, ours, request
from benchmarks.run import HERE


def tree_pss_mb(pid: int) -> float:
    """The PSS of a process and all its descendants, summed (now, not the peak): the workers share the
    preloaded app copy-on-write, which summed RSS would count once per process."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, StopIteration):
            continue
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    (HERE / "data").mkdir(exist_ok=True)
    body, content_type = multipart_bytes(data.csv_file(args.rows).read_bytes())
    with tempfile.TemporaryDirectory(prefix="concurrent-") as tmp:
        server, headers = ours(None, Path(tmp))
        headers = {**headers, "Content-Type": content_type, "Accept": "text/csv"}
        results: list[tuple[int | str, float]] = []
        peak_total, sampling = [0.0], threading.Event()

        def sample():
            while not sampling.is_set():
                peak_total[0] = max(peak_total[0], tree_pss_mb(server.process.pid))
                time.sleep(0.2)

        def upload():
            started = time.perf_counter()
            try:
                request(server.port, "POST", "/api/v1/score", body, headers)
                results.append((200, time.perf_counter() - started))
            except Exception as exc:  # noqa: BLE001 - reported: a 5xx or a dropped connection
                results.append((str(exc)[:80], time.perf_counter() - started))

        try:
            request(server.port, "POST", "/api/v1/score", *multipart_small(headers))  # warm both workers' paths
            threading.Thread(target=sample, daemon=True).start()
            threads = [threading.Thread(target=upload) for _ in range(args.uploads)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            sampling.set()
            largest = server.peak_rss_mb()
        finally:
            server.stop()
    times = sorted(seconds for _, seconds in results)
    statuses = [status for status, _ in results]
    print(f"{platform.node()}, {os.cpu_count()} cores, {datetime.now(UTC).isoformat(timespec='seconds')}: "
          f"{args.uploads} concurrent uploads of {args.rows:,} rows ({len(body) / 2**20:.0f} MiB each)")
    print(f"statuses: {statuses}")
    print(f"all answered in {wall:.1f} s ({args.uploads * args.rows / wall:,.0f} rows/s); each {times[0]:.1f}-"
          f"{times[-1]:.1f} s; peak RSS {largest:.0f} MB in the largest process, peak PSS {peak_total[0]:.0f} MB "
          "all processes together")
    if any(status != 200 for status in statuses):
        sys.exit("not every upload was answered 200 (issue 26: no 5xx)")


def multipart_small(headers: dict) -> tuple[bytes, dict]:
    body, content_type = multipart_bytes(data.csv_file(1000).read_bytes())
    return body, {**headers, "Content-Type": content_type}


if __name__ == "__main__":
    main()
