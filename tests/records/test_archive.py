"""Where archives are: a batch row names its archive relative to the records store, so the store
(or the instance folder holding it) can move; rows written before, with absolute paths, still read;
a store behind an fsspec URL works the same way."""
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.conftest import BufferedClient, signed_in_client
from tests.factories import applications
from tests.records.conftest import decisions, start
from webapp import create_app
from webapp.records import Recorder, archive, batch_decisions, decisions_for, export, purge, reindex, verify
from webapp.records.models import Batch


def archive_name(database, batch_id):
    with database.session() as session:
        return session.get(Batch, batch_id).archive


# --- names and locations

@pytest.mark.parametrize(("path", "root", "name"), [
    ("/srv/records/abc.parquet", "/srv/records", "abc.parquet"),
    ("records/abc.parquet", "records", "abc.parquet"),  # a store given relative to the working folder
    ("/elsewhere/abc.parquet", "/srv/records", "/elsewhere/abc.parquet"),
    ("memory://records/abc.parquet", "memory://records", "abc.parquet"),
    ("s3://bucket/records/abc.parquet", "memory://records", "s3://bucket/records/abc.parquet"),
    (None, "/srv/records", None),  # kept in the batch's row
])
def test_a_batch_row_names_its_archive_relative_to_the_store(path, root, name):
    assert archive.stored_name(path if path is None or "://" in path else Path(path),
                               root if "://" in root else Path(root)) == name


@pytest.mark.parametrize(("stored", "store", "location"), [
    ("abc.parquet", "/srv/moved", "/srv/moved/abc.parquet"),
    ("abc.parquet", "file:///srv/moved", "/srv/moved/abc.parquet"),
    ("abc.parquet", "memory://records/", "memory://records/abc.parquet"),
    ("/srv/records/abc.parquet", "/srv/moved", "/srv/moved/abc.parquet"),  # a row written before, moved since
    ("s3://bucket/abc.parquet", "/srv/moved", "s3://bucket/abc.parquet"),
    (None, "/srv/moved", None),
])
def test_an_archive_is_located_under_the_store_as_configured_now(stored, store, location):
    assert archive.locate(stored, store) == location


def test_without_a_store_a_name_is_found_beside_the_sqlite_file():
    assert archive.locate("abc.parquet", None, "sqlite:////srv/instance/loan.db") == "/srv/instance/records/abc.parquet"
    with pytest.raises(ValueError, match="RECORDS_URL"):
        archive.locate("abc.parquet", None, "postgresql+psycopg://db/loans")


# --- the record's operations after a move

@pytest.fixture
def files(monkeypatch):
    monkeypatch.setattr("webapp.records.archive.INLINE_BYTES", 0)
    monkeypatch.setattr("webapp.records.archive.ARROW_FILE_BYTES", 0)
    monkeypatch.setattr("webapp.records.archive.LARGE_FORMAT", "parquet")  # as batches recorded before


def test_every_operation_reads_a_moved_store(database, store, record, files, tmp_path):
    ids = [record(decisions(["A", "B"])), record(decisions(["A", "C"]))]
    assert archive_name(database, ids[0]) == f"{ids[0]}.parquet"
    moved = tmp_path / "elsewhere" / "records"
    shutil.move(store, moved)
    with database.session() as session:
        assert [d["batch_id"] for d in decisions_for(session, "A", store=moved)] == ids[::-1]
        assert [d["loan_id"] for d in batch_decisions(session, ids[1], store=moved)[1]] == ["A", "C"]
    assert verify(database, store=moved).ok
    assert export(database, datetime(2000, 1, 1), "parquet", str(tmp_path / "out.parquet"), store=moved) == 4
    assert reindex(database, ids[0], store=moved) == [ids[0]]
    assert not verify(database, store=store).ok  # the old place is empty: the archive is missing
    purge(database, as_of=datetime(2999, 1, 1), store=moved)
    assert list(moved.glob("*.parquet")) == []


def test_a_row_with_an_absolute_path_still_reads_and_is_found_once_its_store_moved(database, store, record,
                                                                                   files, tmp_path):
    """Batches recorded before names were relative: their rows keep the absolute path."""
    batch_id = record(decisions(["A"]))
    with database.session() as session:
        session.get(Batch, batch_id).archive = str(store / f"{batch_id}.parquet")
    assert verify(database, store=tmp_path / "unused").ok
    moved = tmp_path / "moved"
    shutil.move(store, moved)
    assert verify(database, store=moved).ok
    with database.session() as session:
        assert [d["batch_id"] for d in decisions_for(session, "A", store=moved)] == [batch_id]
    assert "missing" in verify(database, store=store).problem


def test_a_store_behind_an_fsspec_url(database, files):
    import fsspec

    url = f"memory://records-{uuid.uuid4().hex}"
    recorder = Recorder(database, start(), store=url)
    recorder.add(decisions(["A", "B"]))
    recorder.complete({})
    name, fs = f"{recorder.batch_id}.parquet", fsspec.filesystem("memory")
    try:
        assert fs.exists(f"{url}/{name}") and not fs.exists(f"{url}/{name}.partial")
        assert archive_name(database, recorder.batch_id) == name
        assert verify(database, store=url).ok
        with database.session() as session:
            assert [d["row"] for d in decisions_for(session, "B", store=url)] == [2]
        purge(database, as_of=datetime(2999, 1, 1), store=url)
        assert not fs.exists(f"{url}/{name}")
    finally:
        if fs.exists(url):
            fs.rm(url, recursive=True)


def test_a_middling_archive_behind_an_fsspec_url_is_moved_into_place_once_complete(database, monkeypatch):
    import fsspec

    monkeypatch.setattr("webapp.records.archive.INLINE_BYTES", 0)  # a file from the first chunk, uncompressed
    url = f"memory://records-{uuid.uuid4().hex}"
    recorder = Recorder(database, start(), store=url)
    recorder.add(decisions(["A", "B"]))
    recorder.add(decisions(["C"], start=3))
    recorder.complete({})
    name, fs = f"{recorder.batch_id}.arrow", fsspec.filesystem("memory")
    try:
        assert fs.exists(f"{url}/{name}") and not fs.exists(f"{url}/{name}.partial")
        assert verify(database, store=url).ok
        with database.session() as session:
            assert [d["row"] for d in decisions_for(session, "C", store=url)] == [3]
    finally:
        if fs.exists(url):
            fs.rm(url, recursive=True)


# --- the app after a move: a restart with RECORDS_URL at the new place

@pytest.fixture
def app_on(model_path, tmp_path, database_url):
    """app_on(store) -> the app on this test's database with RECORDS_URL at `store`."""
    apps = []

    def app_on(store):
        uploads = tmp_path / f"uploads-{len(apps)}"
        uploads.mkdir()
        app = create_app({"TESTING": True, "SECRET_KEY": "test", "MODEL_PATH": str(model_path),
                          "UPLOAD_FOLDER": str(uploads), "WTF_CSRF_ENABLED": False, "DATABASE_URL": database_url,
                          "MODEL_STORE": str(tmp_path / "models"), "RECORDS_URL": str(store)})
        app.test_client_class = BufferedClient
        apps.append(app)
        return app
    yield app_on
    for app in apps:
        app.extensions["database"].dispose()


def test_a_moved_store_serves_the_api_verify_replay_export_and_notices(app_on, tmp_path, files):
    before = app_on(tmp_path / "instance" / "records")
    frame = applications(25, seed=5)
    response = signed_in_client(before).post("/api/v1/score?explain=1", data=frame.to_csv(index=False).encode(),
                                             content_type="text/csv")
    assert response.status_code == 200
    batch_id = response.headers["X-Batch-Id"]
    assert (tmp_path / "instance" / "records" / f"{batch_id}.parquet").exists()
    shutil.move(tmp_path / "instance", tmp_path / "new-instance")

    after = app_on(tmp_path / "new-instance" / "records")
    client = signed_in_client(after, "auditor@bank.example", "auditor")
    found = client.get(f"/api/v1/decisions?loan_id={frame['Loan_ID'][3]}")
    assert found.status_code == 200 and [d["batch_id"] for d in found.json["decisions"]] == [batch_id]
    assert client.get(f"/api/v1/batches/{batch_id}/notices.csv").status_code == 200
    runner = after.test_cli_runner()
    assert runner.invoke(args=["records", "verify"]).exit_code == 0
    replayed = runner.invoke(args=["records", "replay", batch_id])
    assert replayed.exit_code == 0, replayed.output
    out = tmp_path / "export.parquet"
    exported = runner.invoke(args=["records", "export", "--since", "2000-01-01", "--output", str(out)])
    assert exported.exit_code == 0 and pq.read_table(out).num_rows == 25


def test_columns_asked_of_an_arrow_file_are_the_only_ones_read(tmp_path, monkeypatch):
    from pyarrow import ipc

    from tests.records.conftest import decisions
    from webapp.records import archive

    monkeypatch.setattr(archive, "INLINE_BYTES", 0)
    monkeypatch.setattr(archive, "ARROW_FILE_BYTES", 0)  # streamed and compressed
    table = archive.normalise(decisions([f"L{i}" for i in range(20)]))
    writer = archive.ArchiveWriter(tmp_path, "b1")
    writer.write(table.slice(0, 12))
    writer.write(table.slice(12))
    path, _ = writer.close()
    opened = []
    real = ipc.open_file
    monkeypatch.setattr(ipc, "open_file", lambda source, options=None: opened.append(options) or real(source, options=options))
    parts = list(archive.chunks(str(path), None, ["row", "loan_id"]))
    assert [part.column_names for part in parts] == [["row", "loan_id"]] * 2
    assert pa.concat_tables(parts).equals(table.select(["row", "loan_id"]))
    assert opened[-1] is not None and sorted(opened[-1].included_fields) == [0, 1]
    assert archive.read(str(path), None, columns=["probability", "row"]).equals(table.select(["probability", "row"]))


@pytest.mark.parametrize("large_format", ["arrow", "parquet"])
def test_a_batch_grows_from_its_row_to_a_file_to_a_compressed_file_as_its_chunks_come(tmp_path, monkeypatch,
                                                                                      large_format):
    from tests.records.conftest import decisions
    from webapp.records import archive

    chunks = [archive.normalise(decisions([f"L{i}" for i in range(first, first + 10)], start=first + 1))
              for first in (0, 10, 20)]
    chunk_bytes = max(chunk.get_total_buffer_size() for chunk in chunks)
    monkeypatch.setattr(archive, "INLINE_BYTES", chunk_bytes)  # the first chunk could stay in the row
    monkeypatch.setattr(archive, "ARROW_FILE_BYTES", 2 * chunk_bytes)  # the third makes it large
    monkeypatch.setattr(archive, "LARGE_FORMAT", large_format)
    writer = archive.ArchiveWriter(tmp_path, "b1")
    writer.write(chunks[0])
    assert list(tmp_path.iterdir()) == []
    writer.write(chunks[1])  # now a file, written as it comes
    assert [p.name for p in tmp_path.iterdir()] == ["b1.arrow.partial"]
    writer.write(chunks[2])  # past the file's size: compressed, from the chunks in memory
    path, data = writer.close()
    assert data is None and [p.name for p in tmp_path.iterdir()] == [Path(path).name]
    assert archive.read(str(path), None).equals(pa.concat_tables(chunks))
    if large_format == "arrow":
        assert archive.is_arrow_file(str(path))


def test_a_middling_batch_abandoned_leaves_no_file(tmp_path, monkeypatch):
    from tests.records.conftest import decisions
    from webapp.records import archive

    monkeypatch.setattr(archive, "INLINE_BYTES", 0)
    writer = archive.ArchiveWriter(tmp_path, "b1")
    writer.write(archive.normalise(decisions(["A", "B"])))
    assert [p.name for p in tmp_path.iterdir()] == ["b1.arrow.partial"]
    writer.abandon()
    assert list(tmp_path.iterdir()) == []


# --- repeated text, dictionary-encoded

def coded(table: pa.Table, order: dict[str, list[str]]) -> pa.Table:
    """`table` with some text columns dictionary-encoded as a scored chunk hands them over, each in
    its own order of values (as one CSV chunk's categories come), reason codes as lists of codes."""
    columns = {}
    for name, column in zip(table.column_names, table.columns):
        if name in order:
            values = pa.array(order[name], pa.string())
            column = pa.DictionaryArray.from_arrays(pc.index_in(column, value_set=values), values)
        elif name == "reason_codes":
            array = column.combine_chunks()
            values = pa.array(["CREDIT_HISTORY", "LOW_INCOME"], pa.string())
            column = pa.ListArray.from_arrays(array.offsets, pa.DictionaryArray.from_arrays(
                pc.index_in(array.values, value_set=values), values))
        columns[name] = column
    return pa.table(columns)


def dictionary_chunks() -> tuple[list[pa.Table], pa.Table]:
    """Three chunks whose dictionaries differ (reordered, a value new in the second, plain text with
    another new value in the third), and the batch as plain text."""
    plain = [decisions([f"L{i}" for i in range(first, first + 10)], start=first + 1,
                       probabilities=[None if i == 3 else 0.3 + i / 20 for i in range(10)]) for first in (0, 10)]
    last = decisions(["L20", "L21"], start=21, probabilities=[0.9, 0.1])
    last = last.set_column(last.schema.get_field_index("input.Gender"), "input.Gender", pa.array(["Other", None]))
    second_gender = plain[1]["input.Gender"].to_pylist()
    second_gender[1] = "Male"
    plain[1] = plain[1].set_column(plain[1].schema.get_field_index("input.Gender"), "input.Gender",
                                   pa.array(second_gender, pa.string()))
    chunks = [coded(plain[0], {"status": ["N", "Y"], "input.Gender": ["Female"]}),
              coded(plain[1], {"status": ["Y", "N"], "input.Gender": ["Male", "Female"]}),
              last]
    return chunks, archive.normalise(pa.concat_tables([archive.normalise(t) for t in [*plain, last]]))


def test_text_that_repeats_is_stored_dictionary_encoded_and_read_back_as_text(database, store, record,
                                                                             archive_kind):
    chunks, plain = dictionary_chunks()
    batch_id = record([archive.stored(chunk) for chunk in chunks])
    with database.session() as session:
        batch = session.get(Batch, batch_id)
        location, data = archive.locate(batch.archive, store), batch.archive_data
        encoded_digest = batch.data_digest
    assert archive.read(location, data).equals(plain)
    assert pa.concat_tables(archive.chunks(location, data)).equals(plain)
    assert archive.read(location, data, rows=[12, 22]).equals(plain.take([11, 21]))
    assert archive.schema(location, data) == plain.schema
    if archive_kind != "inline json":  # (a few decisions given as lists are text already)
        kept = (pa.ipc.open_stream(data).schema if data is not None else pa.ipc.open_file(location).schema
                if archive.is_arrow_file(location) else pq.read_schema(location))
        assert kept.field("status").type == kept.field("input.Gender").type == archive.TEXT_CODES
        assert kept.field("reason_codes").type == pa.list_(archive.TEXT_CODES)
    with database.session() as session:  # the digest is the values', whatever their encoding
        assert session.get(Batch, record(plain)).data_digest == encoded_digest
    assert verify(database, store=store).ok


def test_a_hostile_column_of_distinct_values_is_encoded_in_bulk(tmp_path):
    n = 50_000
    first = coded(decisions([f"L{i}" for i in range(n)]), {})
    given = pa.array([f"g{i}" for i in range(n)], pa.string())
    first = first.set_column(first.schema.get_field_index("input.Gender"), "input.Gender", given.dictionary_encode())
    second = first.set_column(first.schema.get_field_index("input.Gender"), "input.Gender",
                              pa.array([f"h{i}" for i in range(n)], pa.string()).dictionary_encode())
    second = second.set_column(0, "row", pa.array(range(n + 1, 2 * n + 1), pa.int64()))
    writer = archive.ArchiveWriter(tmp_path, "b1")
    for chunk in (first, second):
        writer.write(archive.stored(chunk))
    path, data = writer.close()
    genders = archive.read(str(path) if path else None, data)["input.Gender"]
    assert genders.type == pa.string() and genders.to_pylist() == [f"g{i}" for i in range(n)] + [f"h{i}" for i in range(n)]


@pytest.mark.parametrize("file_bytes", [1 << 30, 0], ids=["uncompressed file", "compressed file"])
def test_a_file_archive_is_synced_then_its_name_and_only_then_published(tmp_path, monkeypatch, file_bytes):
    """Once the database says complete, a crash must not lose the archive: its bytes are fsynced,
    then the folder that holds its final name (a rename is not durable until then)."""
    import os

    monkeypatch.setattr(archive, "INLINE_BYTES", 0)
    monkeypatch.setattr(archive, "ARROW_FILE_BYTES", file_bytes)
    synced, real = [], os.fsync
    monkeypatch.setattr(archive.os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    writer = archive.ArchiveWriter(tmp_path, "b1")
    writer.write(archive.normalise(decisions(["L1", "L2"])))
    path, _ = writer.close()
    assert synced == [str(tmp_path / "b1.arrow.partial"), str(tmp_path)] and Path(path).name == "b1.arrow"


def test_a_folder_that_cannot_be_synced_is_no_fault_of_the_archive(tmp_path, monkeypatch):
    """CIFS and some container mounts answer a folder's fsync with EINVAL: the archive's own fsync stands."""
    import errno
    import os

    real = os.fsync

    def folder_refuses(fd):
        if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd)

    monkeypatch.setattr(archive, "INLINE_BYTES", 0)
    monkeypatch.setattr(archive.os, "fsync", folder_refuses)
    writer = archive.ArchiveWriter(tmp_path, "b1")
    writer.write(archive.normalise(decisions(["L1"])))
    path, _ = writer.close()
    assert Path(path).exists()
