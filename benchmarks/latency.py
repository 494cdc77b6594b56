"""One JSON record against `GET /healthz`, through gunicorn as `make run` starts it, interleaved.

    python -m benchmarks.latency                 # 300 rounds
    python -m benchmarks.latency --requests 20   # CI-sized

Each round sends, in turn, `/healthz` and a single-record `POST /api/v1/score` (everything on: the
API key checked, the decision recorded) on one keep-alive connection, then both again on a fresh
connection each. Interleaving puts both under the same noise, so the ratio is what to compare on
this shared machine; the target (issue 26) is a record's p50 at most 2x the health check's.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import data
from benchmarks.peers import ours, request
from benchmarks.run import HERE


def figures(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"p50": statistics.median(ms), "p90": ms[min(len(ms) - 1, int(len(ms) * 0.9))]}


def rounds(port: int, headers: dict, body: bytes, count: int) -> dict[str, list[float]]:
    times = {name: [] for name in ("healthz keep-alive", "record keep-alive", "healthz fresh", "record fresh")}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    score_headers = {**headers, "Content-Type": "application/json"}
    for number in range(count + 10):  # the first ten warm up
        measured = [request(port, "GET", "/healthz", connection=connection)[1],
                    request(port, "POST", "/api/v1/score", body, score_headers, connection)[1],
                    request(port, "GET", "/healthz")[1],
                    request(port, "POST", "/api/v1/score", body, score_headers)[1]]
        if number >= 10:
            for name, seconds in zip(times, measured):
                times[name].append(seconds * 1000)
    connection.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="interleaved rounds (bounded: a few hundred)")
    args = parser.parse_args()
    (HERE / "data").mkdir(exist_ok=True)  # the servers' logs go there
    body = json.dumps(json.loads(data.sample(1).to_json(orient="records"))).encode()
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        server, headers = ours(None, Path(tmp))
        try:
            times = rounds(server.port, headers, body, args.requests)
        finally:
            server.stop()
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(UTC).isoformat(timespec='seconds')}, {args.requests} rounds")
    print("| request | p50 ms | p90 ms |\n|---|---|---|")
    results = {name: figures(ms) for name, ms in times.items()}
    for name, figure in results.items():
        print(f"| {name} | {figure['p50']:.2f} | {figure['p90']:.2f} |")
    for how in ("keep-alive", "fresh"):
        print(f"record / healthz p50, {how}: {results[f'record {how}']['p50'] / results[f'healthz {how}']['p50']:.1f}x")


if __name__ == "__main__":
    main()
