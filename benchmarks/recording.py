"""What the decision record costs a scoring run, through the one door in process: the same input
scored with no record, recorded on SQLite, and recorded on PostgreSQL, interleaved, median of
--repeat runs (ratios in one run: the machine is shared).

One row is measured twice: a one-row CSV upload, and one JSON record answered in JSON (what a
program's single-record request is). A batch of more than a thousand rows gets its `Loan_ID` index after the answer: `make run` hands it
to the jobs worker, another process; here a thread writes it. Each run waits for that index outside
its timing, so the next run is not slowed by the last one's index, and the index's time is printed
beside the upload's (as "index after").

    python -m benchmarks.recording [--sizes 1,10000,1000000] [--repeat 3] [--no-postgres]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import data, records


def app_on(url: str, tmp: Path):
    from webapp import create_app

    return create_app({"TESTING": True, "SECRET_KEY": "bench", "UPLOAD_FOLDER": str(tmp), "DATABASE_URL": url,
                       "MODEL_STORE": str(tmp / "models"), "RECORDS_URL": str(tmp / "records")})


def score_once(app, path: Path, record: bool) -> tuple[float, float]:
    """(the upload's seconds, the seconds its index took after the answer)"""
    from webapp.service import BatchRecording, Caller, InputFile, ScoringOptions, score_input
    from webapp.service.recording import records_store

    is_json = path.suffix == ".json"  # a JSON record answered in JSON, as the API does for programs
    model, options = app.extensions["models"].current(), ScoringOptions(format="json" if is_json else "csv")
    with open(path, "rb") as source:
        started = time.perf_counter()
        recorder = BatchRecording(app.extensions["database"], records_store(app.config, app.instance_path),
                                  Caller("bench", "api"), options, model, InputFile.of(source, path.name)) \
            if record else None
        answer = score_input(source, model, options, limits=app.extensions["limits"], recorder=recorder,
                             json_hint=is_json)
        answer.file.close()
        seconds = time.perf_counter() - started
    if recorder is not None:
        recorder.wait_indexed()
    return seconds, time.perf_counter() - started - seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    apps = {"no record": app_on(f"sqlite:///{tmp / 'plain.db'}", tmp / "plain"),
            "SQLite": app_on(f"sqlite:///{tmp / 'record.db'}", tmp / "sqlite")}
    drop = None
    if not args.no_postgres:
        url, drop = records.fresh_postgres()
        apps["PostgreSQL"] = app_on(url, tmp / "postgres")
    try:
        print(f"{'rows':>9}  " + "  ".join(f"{name:>12}" for name in apps) + "   overhead")
        # One row twice: a one-row CSV upload, and one JSON record (the single-record request programs make).
        inputs = [(int(n), data.csv_file(int(n)), f"{int(n):,}") for n in args.sizes.split(",")]
        if any(rows == 1 for rows, _, _ in inputs):
            inputs.insert([rows for rows, _, _ in inputs].index(1) + 1, (1, data.json_file(1), "1 JSON"))
        for rows, path, label in inputs:
            repeat = args.repeat if rows > 1 else 50
            times, indexing = {name: [] for name in apps}, {name: [] for name in apps}
            for _ in range(repeat):  # interleaved: each round scores with every setting
                for name, app in apps.items():
                    seconds, index_seconds = score_once(app, path, record=name != "no record")
                    times[name].append(seconds)
                    indexing[name].append(index_seconds)
            medians = {name: statistics.median(t) for name, t in times.items()}
            after = ", ".join(f"{name} {statistics.median(indexing[name]) * 1000:.1f} ms" for name in apps
                              if name != "no record")
            base = medians["no record"]
            overhead = ", ".join(f"{name} {medians[name] / base - 1:+.0%} ({(medians[name] - base) * 1000:+.1f} ms)"
                                 for name in apps if name != "no record")
            print(f"{label:>9}  " + "  ".join(f"{medians[n]:>11.4f}s" for n in apps) + f"   {overhead}; index after: {after}",
                  flush=True)
    finally:
        for app in apps.values():
            app.extensions["database"].dispose()
        if drop:
            drop()


if __name__ == "__main__":
    main()
