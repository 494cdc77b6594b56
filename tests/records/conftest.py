"""Fixtures for the record: a migrated database on SQLite and PostgreSQL, a store, and decisions
built by hand as the scoring service would hand them over."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webapp.records import BatchStart, Recorder, archive
from webapp.records.models import Batch

REASONS = pa.list_(pa.string())
CONTRIBUTIONS = pa.list_(pa.float64())


def decisions(loan_ids: list[str], *, start: int = 1, probabilities: list[float | None] | None = None) -> pa.Table:
    """One decision per ID; a None probability is a failed row with an error."""
    n = len(loan_ids)
    probabilities = probabilities if probabilities is not None else [0.25 + i / (3 * n + 7) for i in range(n)]
    failed = [p is None for p in probabilities]
    return pa.table({
        "row": pa.array(range(start, start + n), pa.int64()),
        "loan_id": pa.array(loan_ids, pa.string()),
        "status": pa.array([None if f else ("Y" if p >= 0.5 else "N") for p, f in zip(probabilities, failed)]),
        "probability": pa.array(probabilities, pa.float64()),
        "error": pa.array(["Property_Area: not one of Rural, Semiurban, Urban" if f else None
                           for f in failed], pa.string()),
        "reason_codes": pa.array([[] if f or p >= 0.5 else ["CREDIT_HISTORY"] for p, f in zip(probabilities, failed)],
                                 REASONS),
        "reason_contributions": pa.array([[] if f or p >= 0.5 else [-1.5 + p] for p, f in zip(probabilities, failed)],
                                         CONTRIBUTIONS),
        "input.ApplicantIncome": pa.array([4000.0 + i for i in range(n)]),
        "input.Credit_History": pa.array([None if i % 5 == 0 else 1.0 for i in range(n)], pa.float64()),
        "input.Property_Area": pa.array(["Mars" if f else "Urban" for f in failed]),
        "input.Gender": pa.array([None if i % 3 == 0 else "Female" for i in range(n)], pa.string()),
    })


def start(**overrides) -> BatchStart:
    fields = {"actor": "anonymous", "channel": "api", "purpose": "decision", "input_name": "applicants.csv",
              "input_sha256": "ab" * 32, "input_size": 1234, "input_format": "csv", "options": {"explain": True},
              "model_name": "loan_pipeline", "model_version": "2026-11-01-abc", "model_sha256": "cd" * 32,
              "threshold": 0.5, "code_version": "test"}
    return BatchStart(**{**fields, **overrides})


@pytest.fixture
def database(migrated_database):
    return migrated_database


@pytest.fixture(params=["inline json", "inline", "arrow file", "compressed arrow file", "parquet file"])
def archive_kind(request, monkeypatch):
    """A batch of a few decisions given as lists (a single record's) lives in the database as JSON,
    other small archives there as an Arrow IPC stream, middling ones in the store as Arrow IPC
    files, large ones as compressed IPC files, and those recorded before as Parquet: tests taking
    this run on all (`record` gives a batch's tables as lists for "inline json")."""
    if not request.param.startswith("inline"):
        monkeypatch.setattr("webapp.records.archive.INLINE_BYTES", 0)
    if request.param in ("compressed arrow file", "parquet file"):
        monkeypatch.setattr("webapp.records.archive.ARROW_FILE_BYTES", 0)
    if request.param == "parquet file":
        monkeypatch.setattr("webapp.records.archive.LARGE_FORMAT", "parquet")
    return request.param


def stored(database, batch_id, store) -> pa.Table:
    with database.session() as session:
        batch = session.get(Batch, batch_id)
        return archive.read(archive.locate(batch.archive, store), batch.archive_data)


def rewrite(database, batch_id, change, store) -> None:
    """Tamper with a batch's archive, wherever it lives."""
    with database.session() as session:
        batch = session.get(Batch, batch_id)
        location = archive.locate(batch.archive, store)
        changed = change(archive.read(location, batch.archive_data))
        if batch.archive_data is None and archive.is_arrow_file(location):
            with pa.ipc.new_file(location, changed.schema, options=pa.ipc.IpcWriteOptions(
                    compression=archive.LARGE_COMPRESSION)) as stream:
                stream.write_table(changed)
        elif batch.archive_data is None:
            pq.write_table(changed, location)
        elif batch.archive_data[:1] == b"{":
            batch.archive_data = archive.few_to_json(archive.FewDecisions(changed.schema, changed.to_pydict()))
        else:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, changed.schema) as stream:
                stream.write_table(changed)
            batch.archive_data = sink.getvalue().to_pybytes()


def few(table: pa.Table) -> archive.FewDecisions:
    """A table's decisions as the lists a single record's are recorded from."""
    table = archive.normalise(table)
    return archive.FewDecisions(table.schema, table.to_pydict())


@pytest.fixture
def store(tmp_path):
    return tmp_path / "records"


@pytest.fixture
def record(database, store, request):
    """record(table or [tables], **BatchStart fields) -> batch id of a complete batch. With the
    archive kind "inline json", tables of a few rows are given as lists, as a single record's are."""
    as_lists = "archive_kind" in request.fixturenames and request.getfixturevalue("archive_kind") == "inline json"

    def record(tables, summary=None, **overrides):
        recorder = Recorder(database, start(**overrides), store=store)
        for table in tables if isinstance(tables, list) else [tables]:
            recorder.add(few(table) if as_lists and table.num_rows <= archive.FEW_ROWS else table)
        recorder.complete(summary or {"rows": sum(t.num_rows for t in (tables if isinstance(tables, list) else [tables]))})
        return recorder.batch_id
    return record
