"""Benchmark: the adverse-action notices of a 5,000-row batch (target: all three outputs in <= 30 s).

    python -m benchmarks.notices [--rows 5000] [--record]

With `--record` the decisions are first recorded as a batch (SQLite in a temporary folder) and the
notices made from the record, as the endpoints and `flask records notices` make them.

Decision records are made up here (a third declined, a few incomplete, every fifth with a name and
address), so the figure needs neither ../shared nor a database.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import time

from webapp.notices.content import Applicant, Lender, notices_from_decisions
from webapp.notices.render import render_csv, render_pdf, render_zip

TARGET_SECONDS = 30.0
CODES = ["CREDIT_HISTORY", "INCOME_INSUFFICIENT", "LOAN_AMOUNT_HIGH", "EMPLOYMENT_TYPE", "PROPERTY_LOCATION",
         "LOAN_TERM_LONG", "COAPPLICANT_INCOME_LOW", "EDUCATION"]


def decisions(rows: int, seed: int = 0) -> tuple[list[dict], dict]:
    rng = random.Random(seed)
    created = dt.datetime(2026, 3, 4, 12, tzinfo=dt.timezone.utc)
    records, applicants = [], {}
    for i in range(rows):
        loan_id = f"B{i:06d}"
        draw = rng.random()
        action = "approve" if draw < 0.62 else "incomplete" if draw < 0.66 else "decline"
        codes = ["INCOME_MISSING"] if action == "incomplete" else rng.sample(CODES, rng.randint(1, 4))
        records.append({"loan_id": loan_id, "created_at": created, "status": "scored", "action": action,
                        "reasons": [{"code": c, "contribution": -0.5} for c in codes] if action != "approve" else [],
                        "inputs": {"ApplicantIncome": None} if action == "incomplete" else {}})
        if i % 5 == 0:
            applicants[loan_id] = Applicant(f"Applicant {i}", f"{i} Example Road; Springfield, IL 62701")
    return records, applicants


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--record", action="store_true", help="go through the decision record")
    args = parser.parse_args(argv)
    if args.record:
        return through_the_record(args.rows)
    lender = Lender("Example Savings Bank", ("100 Main Street", "Springfield, IL 62701"), "Credit Department",
                    ("Federal Trade Commission", "Equal Credit Opportunity", "Washington, DC 20580"))
    records, applicants = decisions(args.rows)
    started = time.perf_counter()
    notices = notices_from_decisions(records, applicants)
    timings = {"build": time.perf_counter() - started}
    sizes = {}
    for name, render in (("pdf", render_pdf), ("zip", render_zip), ("csv", render_csv)):
        began = time.perf_counter()
        sizes[name] = len(render(notices, lender, "principal-reasons", "bench"))
        timings[name] = time.perf_counter() - began
    total = sum(timings.values())
    print(f"{args.rows:,} rows -> {len(notices):,} notices: " +
          ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()) +
          f"; total {total:.2f} s (target <= {TARGET_SECONDS:.0f} s); " +
          ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))


def through_the_record(rows: int) -> None:
    import tempfile
    from pathlib import Path

    import pyarrow as pa

    from webapp.db import Database, ensure_schema
    from webapp.notices.batch import RENDERERS, generate
    from webapp.records import BatchStart, Recorder

    records, _ = decisions(rows)
    table = pa.table({
        "row": pa.array(range(1, rows + 1), pa.int64()), "loan_id": [r["loan_id"] for r in records],
        "status": ["Y" if r["action"] == "approve" else "N" for r in records],
        "probability": [0.8 if r["action"] == "approve" else 0.3 for r in records],
        "error": pa.nulls(rows, pa.string()),
        "reason_codes": pa.array([[x["code"] for x in r["reasons"]] for r in records], pa.list_(pa.string())),
        "reason_contributions": pa.array([[x["contribution"] for x in r["reasons"]] for r in records],
                                         pa.list_(pa.float64())),
        "action": [r["action"] for r in records],
        "input.ApplicantIncome": [None if r["action"] == "incomplete" else 4000.0 for r in records]})
    lender = Lender("Example Savings Bank", ("100 Main Street", "Springfield, IL 62701"), "Credit Department",
                    ("Federal Trade Commission", "Equal Credit Opportunity", "Washington, DC 20580"))
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        ensure_schema(database.engine)
        start = BatchStart(actor="bench", channel="api", purpose="decision", input_name="bench.csv",
                           input_sha256="0" * 64, input_size=0, input_format="csv", options={}, model_name="m",
                           model_version="v", model_sha256="", threshold=0.5, code_version="bench")
        recorder = Recorder(database, start, store=Path(folder) / "records")
        recorder.add(table)
        recorder.complete({"rows": rows})
        timings, count = {}, 0
        for fmt in RENDERERS:
            began = time.perf_counter()
            with database.session() as session:
                count = generate(session, recorder.batch_id, fmt, lender, "principal-reasons",
                                 store=Path(folder) / "records").notices
            timings[fmt] = time.perf_counter() - began
        database.dispose()
    total = sum(timings.values())
    print(f"{rows:,} recorded rows -> {count:,} notices from the record: " +
          ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()) + f"; total {total:.2f} s "
          f"(target <= {TARGET_SECONDS:.0f} s)")


if __name__ == "__main__":
    main()
