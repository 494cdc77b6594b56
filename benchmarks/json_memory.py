"""Peak memory of a large explained JSON answer (issue 20, item 4): the answer streams chunk by chunk
to a spooled file, so memory should not grow with the rows. Prints idle and peak RSS.

    python -m benchmarks.json_memory [--rows 1000000]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from benchmarks import data


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from webapp import create_app
    from webapp.service import ScoringOptions, score_input

    tmp = Path(tempfile.mkdtemp())
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "UPLOAD_FOLDER": str(tmp),
                      "DATABASE_URL": f"sqlite:///{tmp / 'd.db'}", "MODEL_STORE": str(tmp / "models")})
    model, path = app.extensions["models"].current(), data.csv_file(args.rows)
    idle = rss_mb()
    started = time.perf_counter()
    with open(path, "rb") as source, open(tmp / "answer.json", "wb") as out:
        score_input(source, model, ScoringOptions(format="json", explain=True), limits=app.extensions["limits"],
                    out=out)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = (tmp / "answer.json").stat().st_size / 2**20
    print(f"{args.rows:,} rows, explained JSON ({size:,.0f} MiB) in {seconds:.1f} s: idle {idle:,.0f} MiB, "
          f"peak {peak:,.0f} MiB, {peak - idle:,.0f} MiB above idle (target: at most 1,536)")


if __name__ == "__main__":
    main()
