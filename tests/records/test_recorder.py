"""Recording a batch: all of it or a failed mark, counts from the rows, a chain with no forks."""
import json
import os
import threading
from datetime import timedelta

import pyarrow as pa
import pytest
from sqlalchemy import event, func, select

from tests.records.conftest import decisions, start, stored
from webapp.records import Recorder, RecordingClosed, archive, decisions_for, get_batch, index_pending, verify
from webapp.records import recorder as recorder_module
from webapp.records.models import Batch, DecisionIndex


def test_the_batch_id_is_known_before_any_row(database, store):
    recorder = Recorder(database, start(), store=store)
    assert len(recorder.batch_id) == 32
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id) is None


def test_a_complete_batch_counts_its_rows_and_keeps_them_in_input_order(database, store, record, archive_kind):
    batch_id = record([decisions(["A", "B"]), decisions(["C"], start=3, probabilities=[None])])
    with database.session() as session:
        batch = get_batch(session, batch_id)
    assert batch["status"] == "complete"
    assert batch["counts"] == {"rows": 3, "scored": 2, "failed": 1}
    table = stored(database, batch_id, store)
    assert table["row"].to_pylist() == [1, 2, 3]
    assert table["loan_id"].to_pylist() == ["A", "B", "C"]


def test_small_archives_are_kept_in_the_database_and_larger_ones_in_the_store(database, store, record,
                                                                              archive_kind):
    batch_id = record(decisions(["A"]))
    files = {"inline json": [], "inline": [], "arrow file": [f"{batch_id}.arrow"],
             "compressed arrow file": [f"{batch_id}.arrow"], "parquet file": [f"{batch_id}.parquet"]}
    assert [p.name for p in store.glob("*")] == files[archive_kind]
    with database.session() as session:
        data = session.get(Batch, batch_id).archive_data
    kept_as = {"inline json": "json", "inline": "arrow stream"}.get(archive_kind)
    assert (data is not None and ("json" if data[:1] == b"{" else "arrow stream")) == (kept_as or False)


def test_a_few_decisions_given_as_lists_are_kept_as_json_that_reads_back_exactly(database, store, record):
    table = archive.normalise(decisions(["A", "Ünïcode \"quoted\"", "C"], probabilities=[0.1 + 0.2, None, 1e-300]))
    recorder = Recorder(database, start(), store=store)
    recorder.add(archive.FewDecisions(table.schema, table.to_pydict()))
    recorder.complete({})
    with database.session() as session:
        data = session.get(Batch, recorder.batch_id).archive_data
    assert json.loads(data)["format"] == archive.JSON_FORMAT
    assert archive.read(None, data).equals(table)  # floats to the last bit, nulls, text, lists
    assert archive.schema(None, data) == table.schema
    assert pa.concat_tables(archive.chunks(None, data)).equals(table)


def test_a_batch_of_lists_and_then_more_is_kept_in_arrow_whole(database, store):
    first, second = archive.normalise(decisions(["A"])), archive.normalise(decisions(["B", "C"], start=2))
    recorder = Recorder(database, start(), store=store)
    recorder.add(archive.FewDecisions(first.schema, first.to_pydict()))
    recorder.add(second)
    recorder.complete({})
    assert stored(database, recorder.batch_id, store).equals(pa.concat_tables([first, second]))
    assert verify(database, store=store).ok


def test_large_chunks_are_written_on_a_thread_in_order(database, store, monkeypatch):
    monkeypatch.setattr("webapp.records.recorder._Pipeline.THREAD_ROWS", 2)
    recorder = Recorder(database, start(), store=store)
    for offset in range(0, 9, 3):
        recorder.add(decisions([f"L{offset + i}" for i in range(3)], start=offset + 1))
    recorder.complete({})
    assert stored(database, recorder.batch_id, store)["row"].to_pylist() == list(range(1, 10))
    assert verify(database, store=store).ok


def test_a_failure_on_the_writer_thread_fails_the_batch(database, store, monkeypatch):
    monkeypatch.setattr("webapp.records.recorder._Pipeline.THREAD_ROWS", 1)
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["A"]))
    with pytest.raises(ValueError, match="columns differ"):
        recorder.add(decisions(["B"]).drop_columns(["input.Gender"]))
        recorder.complete({})
    with database.session() as session:
        assert get_batch(session, recorder.batch_id)["status"] == "failed"


def test_probabilities_are_stored_at_full_precision(database, store, record):
    p = 0.1 + 0.2  # 0.30000000000000004
    batch_id = record(decisions(["A"], probabilities=[p]))
    assert stored(database, batch_id, store)["probability"].to_pylist() == [p]


def test_a_failed_batch_leaves_no_archive_and_no_complete_looking_rows(database, store, archive_kind):
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["A", "B"]))
    recorder.fail("disk full")
    with database.session() as session:
        batch = get_batch(session, recorder.batch_id)
    assert (batch["status"], batch["failure_reason"], batch["digest"]) == ("failed", "disk full", None)
    assert list(store.glob("*")) == []
    with pytest.raises(RecordingClosed):
        recorder.add(decisions(["C"]))


def test_a_failure_while_completing_marks_the_batch_failed(database, store, monkeypatch, archive_kind):
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["A"]))
    monkeypatch.setattr("webapp.records.recorder.publish", lambda *a: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(OSError):
        recorder.complete({})
    with database.session() as session:
        assert get_batch(session, recorder.batch_id)["status"] == "failed"
    assert list(store.glob("*")) == []


def test_an_empty_batch_is_recorded_too(database, store, record):
    batch_id = record([], summary={"rows": 0})
    with database.session() as session:
        assert get_batch(session, batch_id)["counts"] == {"rows": 0, "scored": 0, "failed": 0}
    assert verify(database, store=store).ok


def test_eight_parallel_recordings_all_succeed_and_chain_without_forks(database, store):
    ids, errors = [], []

    def upload(i):
        try:
            recorder = Recorder(database, start(), store=store)
            for chunk in range(3):
                recorder.add(decisions([f"T{i}-{chunk}-{j}" for j in range(200)], start=1 + 200 * chunk))
            recorder.complete({})
            ids.append(recorder.batch_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session() as session:
        seqs = sorted(session.get(Batch, batch_id).seq for batch_id in ids)
    assert seqs == list(range(1, 9))
    assert verify(database, store=store).ok


@pytest.mark.parametrize("channel", ["fax", ""])
def test_an_unknown_channel_is_refused(channel):
    with pytest.raises(ValueError, match="channel"):
        start(channel=channel)


def test_a_large_batch_is_indexed_right_after_and_found_meanwhile(database, store, monkeypatch):
    monkeypatch.setattr("webapp.records.recorder.INDEX_NOW_ROWS", 0)
    gate = threading.Event()
    real = recorder_module.index_batch
    monkeypatch.setattr("webapp.records.recorder.index_batch", lambda *a: (gate.wait(10), real(*a)))
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["A", "B"]))
    recorder.complete({})
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id).indexed is False
        assert [d["row"] for d in decisions_for(session, "B", store=store)] == [2]  # read from the archive
    gate.set()
    recorder.wait_indexed()
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id).indexed is True
        assert [d["row"] for d in decisions_for(session, "B", store=store)] == [2]  # through the index


def test_an_interrupted_indexing_is_mended(database, store, monkeypatch):
    monkeypatch.setattr("webapp.records.recorder.INDEX_NOW_ROWS", 0)
    monkeypatch.setattr("webapp.records.recorder.index_batch", lambda *a: None)  # the worker died
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["A", "B"]))
    recorder.complete({})
    recorder.wait_indexed()
    monkeypatch.undo()
    assert index_pending(database, store=store) == []  # too recent: its thread may still be running
    assert index_pending(database, older_than=timedelta(0), store=store) == [recorder.batch_id]
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id).indexed is True
        assert [d["loan_id"] for d in decisions_for(session, "A", store=store)] == ["A"]


def test_an_index_interrupted_between_steps_is_finished_without_duplicates_or_a_scan(database, store, monkeypatch):
    """On SQLite a large index is written in steps that commit one by one; a worker that died after
    the first left its rows. Finishing keeps them and adds the rest, without deleting by batch (a
    scan of the whole index). On PostgreSQL the index is one transaction: it was written whole."""
    monkeypatch.setattr("webapp.records.recorder.INDEX_NOW_ROWS", 0)
    monkeypatch.setattr("webapp.records.recorder.SQLITE_INDEX_STEP", 3)
    real, steps = recorder_module.write_index, []

    def dies_at_the_second_step(connection, keys, seq, **options):
        if steps:
            raise RuntimeError("the worker died")
        steps.append(len(keys[0]))
        real(connection, keys, seq, **options)

    monkeypatch.setattr("webapp.records.recorder.write_index", dies_at_the_second_step)
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions([f"ID{i}" for i in range(8)]))
    recorder.complete({})
    recorder.wait_indexed()
    monkeypatch.undo()
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    interrupted = database.backend == "sqlite"
    assert index_pending(database, older_than=timedelta(0), store=store) == ([recorder.batch_id] if interrupted else [])
    assert not [sql for sql in statements if sql.lstrip().upper().startswith("DELETE")]
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id).indexed is True
        assert session.scalar(select(func.count()).select_from(DecisionIndex)) == 8
    assert verify(database, store=store).ok


def test_a_failure_while_adding_fails_the_batch_and_a_second_fail_is_harmless(database, store, monkeypatch):
    recorder = Recorder(database, start(), store=store)
    monkeypatch.setattr(recorder._writer, "write", lambda table: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        recorder.add(decisions(["A"]))
    recorder.fail("disk full")  # the caller's own handler: nothing more happens
    with database.session() as session:
        assert get_batch(session, recorder.batch_id)["failure_reason"] == "recording failed: OSError (No space left on device)"


def test_a_large_batch_can_be_handed_to_another_process_for_indexing(database, store, monkeypatch):
    monkeypatch.setattr("webapp.records.recorder.INDEX_NOW_ROWS", 0)
    handed = []
    recorder = Recorder(database, start(), store=store, index_elsewhere=handed.append)
    recorder.add(decisions(["A", "B"]))
    recorder.complete({})
    assert handed == [recorder.batch_id] and recorder._indexer is None  # no thread here
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id).indexed is False
        assert [d["row"] for d in decisions_for(session, "B", store=store)] == [2]  # read from the archive
    from webapp.records import reindex

    assert reindex(database, recorder.batch_id, store=store) == [recorder.batch_id]  # what the worker runs
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id).indexed is True
        assert [d["row"] for d in decisions_for(session, "B", store=store)] == [2]
    assert verify(database, store=store).ok


def test_a_batch_the_queue_cannot_take_is_indexed_here(database, store, monkeypatch):
    monkeypatch.setattr("webapp.records.recorder.INDEX_NOW_ROWS", 0)

    def unreachable(batch_id):
        raise ConnectionError("redis is down")

    recorder = Recorder(database, start(), store=store, index_elsewhere=unreachable)
    recorder.add(decisions(["A", "B"]))
    recorder.add(decisions(["C"], start=3))  # past INDEX_NOW_ROWS: its keys were left to the other process
    recorder.complete({})
    recorder.wait_indexed()
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id).indexed is True
        assert [d["row"] for d in decisions_for(session, "A", store=store)] == [1]
        assert [d["row"] for d in decisions_for(session, "C", store=store)] == [3]
    assert verify(database, store=store).ok


def test_on_sqlite_a_large_index_is_written_in_steps_that_let_other_batches_publish(database, store, monkeypatch):
    monkeypatch.setattr("webapp.records.recorder.INDEX_NOW_ROWS", 0)
    monkeypatch.setattr("webapp.records.recorder.SQLITE_INDEX_STEP", 3)
    steps = []
    real = recorder_module.write_index
    monkeypatch.setattr("webapp.records.recorder.write_index", lambda session, keys, seq, **options: (
        steps.append(len(keys[0])), real(session, keys, seq, **options)))
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions([f"ID{i}" for i in range(8)]))
    recorder.complete({})
    recorder.wait_indexed()
    assert steps == ([3, 3, 2] if database.backend == "sqlite" else [8])
    with database.session() as session:
        assert session.get(Batch, recorder.batch_id).indexed is True
        assert [d["row"] for d in decisions_for(session, "ID6", store=store)] == [7]
    assert verify(database, store=store).ok


def test_an_error_after_the_publish_committed_keeps_the_batch_and_its_archive(database, store, archive_kind,
                                                                               monkeypatch):
    """PostgreSQL's publish commits by itself: a connection lost after the commit raises, and the
    batch must stay as recorded (its archive with it), never be marked failed or lose its file."""
    from sqlalchemy.exc import OperationalError

    published = recorder_module.publish

    def commit_then_lose_the_connection(*args, **kwargs):
        published(*args, **kwargs)
        raise OperationalError("COMMIT", {}, ConnectionResetError("connection lost"))

    monkeypatch.setattr(recorder_module, "publish", commit_then_lose_the_connection)
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["A", "B"]))
    with pytest.raises(OperationalError):
        recorder.complete({})
    with database.session() as session:
        assert get_batch(session, recorder.batch_id)["status"] == "complete"
    assert stored(database, recorder.batch_id, store)["loan_id"].to_pylist() == ["A", "B"]
    assert verify(database, store=store).ok


def test_an_archive_whose_batch_the_database_could_not_confirm_is_kept_then_swept_unless_complete(
        database, store, monkeypatch):
    """The publish fails and so does the look-up after it (the database is gone): the archive stays,
    marked in doubt, and the records purge removes it once the database says its batch is not there."""
    from sqlalchemy.exc import OperationalError

    from webapp.records.services import sweep_strays

    monkeypatch.setattr("webapp.records.archive.INLINE_BYTES", 0)  # into the store as a file

    def unreachable(*args, **kwargs):
        raise OperationalError("SELECT", {}, ConnectionRefusedError("database gone"))

    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["A", "B"]))
    with monkeypatch.context() as gone:
        gone.setattr(recorder_module, "publish", unreachable)
        gone.setattr(database, "session", unreachable)
        with pytest.raises(OperationalError):
            recorder.complete({})
    batch_id = recorder.batch_id
    assert sorted(p.name for p in store.iterdir()) == [f"{batch_id}.arrow", f"{batch_id}.in-doubt"]
    assert sweep_strays(database, store=store) == []  # too fresh to judge
    assert sweep_strays(database, store=store, older_than=0) == [f"{batch_id}.arrow", f"{batch_id}.parquet"]
    assert list(store.iterdir()) == []
    kept = record_of_a_complete_batch_marked_in_doubt(database, store)
    assert sweep_strays(database, store=store, older_than=0) == [] and (store / f"{kept}.arrow").exists()
    assert not (store / f"{kept}.in-doubt").exists()


def record_of_a_complete_batch_marked_in_doubt(database, store) -> str:
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions(["C"]))
    recorder.complete({})
    (store / f"{recorder.batch_id}.in-doubt").touch()
    return recorder.batch_id


def test_a_partial_archive_left_by_a_killed_process_is_swept_once_old(database, store):
    from webapp.records.services import sweep_strays

    store.mkdir(exist_ok=True)
    left = store / ("ab" * 16 + ".arrow.partial")
    left.write_bytes(b"half an archive")
    other = store / "notes.txt"  # not an archive's name: never touched
    other.write_text("keep")
    assert sweep_strays(database, store=store) == []
    os.utime(left, (0, 0))
    os.utime(other, (0, 0))
    assert sweep_strays(database, store=store) == [left.name]
    assert [p.name for p in store.iterdir()] == ["notes.txt"]
