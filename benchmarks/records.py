"""What recording the decisions costs, on SQLite and PostgreSQL: the figures behind the storage choice.

    python -m benchmarks.records                  # 10k and 1M rows, both databases, both designs
    python -m benchmarks.records --sizes 10000 --no-table

Candidates, each fed the decisions in chunks of 100,000 rows as the scoring service produces them:
- table:   every decision a row of a `decisions` table (PostgreSQL COPY of pyarrow-written CSV;
           SQLite `executemany` in one transaction);
- archive: an immutable archive file per batch (as `webapp.records.archive` writes it) plus a `decision_index(loan_key, batch, row)` table
           (what `webapp.records` does; the "recorder" line runs the real `Recorder`).
PostgreSQL needs the server on 127.0.0.1:5432 (TEST_POSTGRES_URL to override); a temporary database
is created and dropped. Bounded: at most a few seconds per line on this machine.
"""
from __future__ import annotations

import argparse
import io
import os
import secrets
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

CHUNK = 100_000
SCORING_PER_CHUNK = 0.2  # the ~2 s a 1M-row upload takes, per 100k chunk (waiting idle: a lower bound)
POSTGRES = os.environ.get("TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
INPUTS = {"ApplicantIncome": "f", "CoapplicantIncome": "f", "LoanAmount": "f", "Loan_Amount_Term": "f",
          "Credit_History": "f", "Education": ["Graduate", "Not Graduate"], "Self_Employed": ["No", "Yes"],
          "Property_Area": ["Rural", "Semiurban", "Urban"], "Gender": ["Female", "Male"], "Married": ["No", "Yes"],
          "Dependents": ["0", "1", "2", "3+"]}


def synthetic_decisions(n: int, *, start: int = 1, seed: int = 0) -> pa.Table:
    """`n` decisions shaped as the scoring service gives them to `Recorder.add`."""
    rng = np.random.default_rng(seed)
    probability = rng.random(n)
    reasons = pa.array([["CREDIT_HISTORY", "LOAN_AMOUNT_HIGH"]] * n, pa.list_(pa.string()))
    contributions = pa.array([[-1.25, -0.5]] * n, pa.list_(pa.float64()))
    columns = {
        "row": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "loan_id": pa.array([f"LP{i:08d}" for i in range(start, start + n)]),
        "status": pa.array(np.where(probability >= 0.5, "Y", "N")),
        "probability": pa.array(probability),
        "error": pa.nulls(n, pa.string()),
        "reason_codes": reasons,
        "reason_contributions": contributions,
    }
    for name, kind in INPUTS.items():
        columns[f"input.{name}"] = (pa.array(rng.random(n) * 1000) if kind == "f"
                                    else pa.array(np.array(kind)[rng.integers(0, len(kind), n)]))
    return pa.table(columns)


def chunks(n: int):
    for start in range(1, n + 1, CHUNK):
        yield synthetic_decisions(min(CHUNK, n - start + 1), start=start, seed=start)


def flat_text(table: pa.Table) -> pa.Table:
    """Lists joined into text, so pyarrow can write the CSV that COPY reads."""
    columns = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_list(column.type):
            column = pc.binary_join(pc.cast(column, pa.list_(pa.string())), ";")
        columns[name.replace(".", "_")] = column
    return pa.table(columns)


def table_ddl(names: list[str], text_type: str) -> str:
    types = {"row": "BIGINT", "probability": "DOUBLE PRECISION"}
    numeric = {f"input_{k}" for k, v in INPUTS.items() if v == "f"}
    cols = ", ".join(f'"{n}" {types.get(n, "DOUBLE PRECISION" if n in numeric else text_type)}' for n in names)
    return f"CREATE TABLE decisions (batch_id TEXT, {cols})"


def table_sqlite(data: list[pa.Table], folder: Path) -> float:
    connection = sqlite3.connect(folder / "table.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    first = flat_text(synthetic_decisions(1))
    connection.execute(table_ddl(first.column_names, "TEXT"))
    connection.execute("CREATE INDEX ix_loan ON decisions (loan_id)")
    placeholders = ",".join("?" * (len(first.column_names) + 1))
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    for chunk in data:
        flat = flat_text(chunk)
        rows = zip(["b1"] * flat.num_rows, *(flat[c].to_pylist() for c in flat.column_names))
        connection.executemany(f"INSERT INTO decisions VALUES ({placeholders})", rows)
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def pg_connection(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=False)


def table_postgres(data: list[pa.Table], url: str) -> float:
    with pg_connection(url) as connection:
        first = flat_text(synthetic_decisions(1))
        connection.execute("DROP TABLE IF EXISTS decisions")
        connection.execute(table_ddl(first.column_names, "TEXT"))
        connection.execute("CREATE INDEX ix_loan ON decisions (loan_id)")
        connection.commit()
        names = ", ".join(f'"{c}"' for c in first.column_names)
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(f"COPY decisions (batch_id, {names}) FROM STDIN "
                                                        "(FORMAT csv)") as copy:
            for chunk in data:
                flat = flat_text(chunk)
                flat = flat.add_column(0, "batch_id", pa.array(["b1"] * flat.num_rows))
                buffer = io.BytesIO()
                pacsv.write_csv(flat, buffer, pacsv.WriteOptions(include_header=False))
                copy.write(buffer.getvalue())
        connection.commit()
        elapsed = time.perf_counter() - started
        connection.execute("DROP TABLE decisions")
        connection.commit()
        return elapsed


def archive_only(data: list[pa.Table], folder: Path) -> float:
    """The recorder's work without a database: normalise, Parquet, digest, index keys."""
    from webapp.records import archive
    from webapp.records.digest import DataDigest, loan_keys

    digest = DataDigest()
    started = time.perf_counter()
    writer = archive.ArchiveWriter(folder, "only")
    for chunk in data:
        table = archive.normalise(chunk)
        writer.write(table)
        digest.update(table)
        loan_keys(table["loan_id"])
    path, _ = writer.close()
    elapsed = time.perf_counter() - started
    if path:
        path.unlink()
    return elapsed


def recorder(data: list[pa.Table], url: str, folder: Path, scoring: float = 0.0) -> tuple[float, float]:
    """The real thing: `webapp.records.Recorder` on a migrated database. (Seconds until `complete`
    returns, which is what the upload waits for; seconds more until the index is written.) With
    `scoring`, each chunk is preceded by that many seconds of waiting, as an upload scores the next
    chunk while the writer thread records the last; that time is subtracted from the figure."""
    from webapp.db import Database, ensure_schema
    from webapp.records import BatchStart, Recorder

    database = Database(url)
    ensure_schema(database.engine)
    start = BatchStart(actor="bench", channel="cli", purpose="analysis", input_name="bench.csv",
                       input_sha256="0" * 64, input_size=0, input_format="csv", options={},
                       model_name="m", model_version="v", model_sha256="0" * 64, threshold=0.5,
                       code_version="bench")
    started = time.perf_counter()
    record = Recorder(database, start, store=folder / "store")
    for chunk in data:
        time.sleep(scoring)
        record.add(chunk)
    record.complete({})
    elapsed = time.perf_counter() - started - scoring * len(data)
    record.wait_indexed()
    indexing = time.perf_counter() - started - elapsed
    database.dispose()
    return elapsed, indexing


def single_records(url: str, folder: Path, times: int = 50) -> float:
    """Median cost of recording a one-row batch (a single-record request), in milliseconds."""
    from webapp.db import Database, ensure_schema
    from webapp.records import BatchStart, Recorder

    database = Database(url)
    ensure_schema(database.engine)
    start = BatchStart(actor="bench", channel="api", purpose="analysis", input_name="", input_sha256="0" * 64,
                       input_size=0, input_format="json", options={}, model_name="m", model_version="v",
                       model_sha256="0" * 64, threshold=0.5, code_version="bench")
    one = synthetic_decisions(1)
    figures = []
    for _ in range(times):
        started = time.perf_counter()
        record = Recorder(database, start, store=folder / "store")
        record.add(one)
        record.complete({"rows": 1})
        figures.append(time.perf_counter() - started)
    database.dispose()
    return float(np.median(figures)) * 1000


def fresh_postgres():
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"bench_records_{secrets.token_hex(3)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--no-table", action="store_true", help="skip the decisions-table candidate")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'what':<52} {'rows':>10} {'seconds':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pg_url, drop = fresh_postgres()
        try:
            import webapp.records  # noqa: F401 - imported before the clocks start

            # First, on fresh databases: after millions of rows PostgreSQL is busy checkpointing.
            sqlite_url = f"sqlite:///{folder / 'single.db'}"
            print(f"{'one-row batch, ms (median of 50): SQLite':<52} {1:>10,} "
                  f"{single_records(sqlite_url, folder):>9.2f}")
            print(f"{'one-row batch, ms (median of 50): PostgreSQL':<52} {1:>10,} "
                  f"{single_records(pg_url, folder):>9.2f}")

            for n in sizes:
                data = list(chunks(n))  # generated before the clocks start
                if not args.no_table:
                    print(f"{'table: SQLite executemany':<52} {n:>10,} {table_sqlite(data, folder):>9.3f}")
                    (folder / "table.db").unlink()
                    print(f"{'table: PostgreSQL COPY':<52} {n:>10,} {table_postgres(data, pg_url):>9.3f}")
                print(f"{'archive: Parquet + digest + keys, no database':<52} {n:>10,} "
                      f"{archive_only(data, folder):>9.3f}")
                sqlite_url = f"sqlite:///{folder / 'records.db'}"
                for name, url in (("SQLite", sqlite_url), ("PostgreSQL", pg_url)):
                    until_complete, indexing = recorder(data, url, folder)
                    print(f"{'recorder until complete: ' + name:<52} {n:>10,} {until_complete:>9.3f}")
                    print(f"{'  then its index, after the answer: ' + name:<52} {n:>10,} {indexing:>9.3f}")
                    if len(data) > 1:  # overlap needs several chunks
                        overlapped, _ = recorder(data, url, folder, scoring=SCORING_PER_CHUNK)
                        print(f"{'  added to scoring that waits 0.2 s a chunk: ' + name:<52} {n:>10,} "
                              f"{overlapped:>9.3f}")
        finally:
            drop()


if __name__ == "__main__":
    main()
