"""The benchmarks that carry this round's figures run in CI-sized form: a few requests, small files,
each finishing with its table. Nothing here asserts a time (the machine is shared and noisy); a
benchmark that breaks is caught before someone needs its figures."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CI_SIZED = {
    "latency": (["--requests", "5"], "record / healthz p50, keep-alive"),
    "concurrent": (["--uploads", "2", "--rows", "2000"], "statuses: [200, 200]"),
    "recording": (["--sizes", "1,2000", "--repeat", "1"], "overhead"),
    "peers": (["--sizes", "2000", "--requests", "5", "--repeat", "1", "--no-peers"], "rows/s of naive in-process floor"),
    "jobs": (["--rows", "2000"], "job submit"),
    "records": (["--sizes", "2000", "--no-table"], "then its index, after the answer: PostgreSQL"),
    "notices": (["--rows", "200", "--record"], "notices from the record"),
    "json_memory": (["--rows", "2000"], "above idle"),
    "challenger": (["--rows", "2000"], "with a challenger"),
    "dataset": (["--rows", "20000", "--parts", "2"], "rows/s vs single process"),
}
# Not here: `benchmarks.run` (the round's overview, minutes even at 1,000 rows: its latency series are
# fixed-length) and the peers' servers (their virtual environments take minutes to build; `peers`
# runs above with --no-peers).


@pytest.mark.parametrize("name", CI_SIZED)
def test_the_benchmark_runs_in_ci_size(name, shared_data, tmp_path):
    arguments, expected = CI_SIZED[name]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_SOURCE_CSV": str(shared_data / "loan_test.csv")}
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert expected in done.stdout
