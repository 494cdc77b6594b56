"""Lookups, paging, verification, retention: what the record promises an examiner."""
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from tests.records.conftest import decisions, few, rewrite
from webapp.records import (
    BatchNotFound,
    ChainHead,
    BatchPurged,
    RecordError,
    batch_decisions,
    chain_head,
    decisions_for,
    export,
    get_batch,
    hold,
    list_batches,
    purge,
    release,
    verify,
)
from webapp.records.models import Batch, Deletion
from webapp.records.services import months_before


def archive_of(store, batch_id):
    """The batch's archive file, Arrow or Parquet (a path that does not exist once it is gone)."""
    return next(store.glob(f"{batch_id}.*"), store / f"{batch_id}.parquet")


# --- lookups

def test_every_decision_for_an_id_newest_first_with_its_inputs_and_reasons(database, store, record, archive_kind):
    first = record(decisions(["LP1", "LP2"], probabilities=[0.2, 0.9]))
    second = record(decisions(["LP3", "LP1"], probabilities=[0.8, 0.3]), actor="alice", purpose="analysis")
    with database.session() as session:
        found = decisions_for(session, "LP1", store=store)
    assert [(d["batch_id"], d["row"]) for d in found] == [(second, 2), (first, 1)]
    newest = found[0]
    assert (newest["actor"], newest["purpose"], newest["status"], newest["probability"]) == ("alice", "analysis", "N", 0.3)
    assert newest["reasons"] == [{"code": "CREDIT_HISTORY", "contribution": -1.2}]
    assert newest["inputs"] == {"ApplicantIncome": 4001.0, "Credit_History": 1.0, "Property_Area": "Urban",
                                "Gender": "Female"}
    assert (newest["threshold"], newest["model_version"], newest["error"]) == (0.5, "2026-11-01-abc", None)


def test_a_lookup_by_actor_and_of_an_unknown_id(database, store, record):
    record(decisions(["LP1"]), actor="alice")
    record(decisions(["LP1"]), actor="bob")
    with database.session() as session:
        assert [d["actor"] for d in decisions_for(session, "LP1", actor="bob", store=store)] == ["bob"]
        assert decisions_for(session, "nobody", store=store) == []
        # An empty actor is no one, never everyone: an owner filter must not fall open.
        assert decisions_for(session, "LP1", actor="", store=store) == []
        assert list_batches(session, actor="")["total"] == 0


def test_a_batch_of_someone_else_is_not_found_by_an_owner_and_a_purged_one_is_gone_to_its_own(database, store,
                                                                                             record):
    mine, theirs = record(decisions(["A"]), actor="alice"), record(decisions(["B"]), actor="bob")
    with database.session() as session:
        session.get(Batch, theirs).created_at = datetime(2020, 1, 1, tzinfo=UTC)
    purge(database, as_of=datetime(2024, 1, 1, tzinfo=UTC), store=store)
    with database.session() as session:
        assert get_batch(session, mine, owner="alice")["actor"] == "alice"
        with pytest.raises(BatchNotFound):
            get_batch(session, mine, owner="bob")
        with pytest.raises(BatchPurged):  # the deletion entry's header names whose it was
            get_batch(session, theirs, owner="bob")
        with pytest.raises(BatchNotFound):
            get_batch(session, theirs, owner="alice")
        with pytest.raises(BatchPurged):
            get_batch(session, theirs)


def test_failed_rows_are_found_with_their_error(database, store, record):
    record(decisions(["LP1"], probabilities=[None]))
    with database.session() as session:
        (found,) = decisions_for(session, "LP1", store=store)
    assert (found["status"], found["probability"], found["reasons"]) == (None, None, [])
    assert found["error"].startswith("Property_Area")


def test_batches_are_paged_newest_first_and_filtered(database, record):
    ids = [record(decisions([f"L{i}"]), actor="alice" if i % 2 else "bob") for i in range(5)]
    with database.session() as session:
        page1 = list_batches(session, per_page=2)
        page3 = list_batches(session, page=3, per_page=2)
        alice = list_batches(session, actor="alice")
        analysis = list_batches(session, purpose="analysis")
        future = list_batches(session, since=datetime.now(UTC) + timedelta(days=1))
        past = list_batches(session, until=datetime.now(UTC) + timedelta(days=1))
    assert [b["batch_id"] for b in page1["batches"]] == ids[::-1][:2]
    assert page1["total"] == 5 and [b["batch_id"] for b in page3["batches"]] == [ids[0]]
    assert {b["batch_id"] for b in alice["batches"]} == {ids[1], ids[3]}
    assert analysis["total"] == 0 and future["total"] == 0 and past["total"] == 5


def test_a_batch_has_its_fields_counts_and_summary(database, record):
    batch_id = record(decisions(["A", "B"], probabilities=[0.9, None]), summary={"rows": 2, "drift": None})
    with database.session() as session:
        batch = get_batch(session, batch_id)
    assert batch["counts"] == {"rows": 2, "scored": 1, "failed": 1}
    assert batch["summary"] == {"rows": 2, "drift": None}
    assert batch["options"] == {"explain": True}
    assert batch["model"]["version"] == "2026-11-01-abc"
    assert batch["digest_version"] == "v2"  # what to recompute its digest in (README, webapp/records/digest.py)
    with database.session() as session, pytest.raises(BatchNotFound):
        get_batch(session, "0" * 32)


# --- verification

def test_an_untouched_chain_verifies(database, store, record):
    for i in range(3):
        record(decisions([f"L{i}", f"M{i}"]))
    report = verify(database, store=store)
    assert report.ok and report.checked == 3


def probability_changed(table):
    changed = table["probability"].to_pylist()
    changed[1] += 1e-15
    return table.set_column(table.column_names.index("probability"), "probability", pa.array(changed))


def row_deleted(table):
    return pa.concat_tables([table.slice(0, 1), table.slice(2)])


def rows_swapped(table):
    return table.take([1, 0, 2])


@pytest.mark.parametrize("tamper", [probability_changed, row_deleted, rows_swapped], ids=lambda f: f.__name__)
def test_verify_names_the_first_batch_whose_decisions_were_changed(database, store, record, tamper, archive_kind):
    ids = [record(decisions(["A", "B", "C"])) for _ in range(3)]
    rewrite(database, ids[1], tamper, store)
    report = verify(database, store=store)
    assert (report.ok, report.first_bad) == (False, ids[1])
    assert "differ" in report.problem
    assert verify(database, ids[0], store=store).ok and not verify(database, ids[1], store=store).ok


def test_a_batch_recorded_in_digest_version_1_still_verifies_and_its_version_is_bound(database, store, record):
    from webapp.records import archive
    from webapp.records.digest import DataDigest, batch_digest, header_of

    batch_id = record(decisions(["A", "B", "C"]))
    with database.session() as session:  # as a batch recorded before version 2 was
        batch = session.get(Batch, batch_id)
        version_1 = DataDigest("v1")
        version_1.update(archive.read(archive.locate(batch.archive, store), batch.archive_data))
        batch.digest_version, batch.data_digest = None, version_1.hexdigest()
        batch.digest = batch_digest(batch.prev_digest, header_of(batch), batch.data_digest, "v1")
    assert verify(database, store=store).ok
    with database.session() as session:
        assert get_batch(session, batch_id)["digest_version"] == "v1"
        session.get(Batch, batch_id).digest_version = "v2"  # a version claimed is a version recomputed
    assert not verify(database, store=store).ok


def test_verify_catches_a_changed_batch_field_and_a_removed_archive(database, store, record, archive_kind):
    if archive_kind.startswith("inline"):
        pytest.skip("an archive kept in the batch's row cannot go missing apart from it")
    ids = [record(decisions(["A"])) for _ in range(2)]
    with database.session() as session:
        session.get(Batch, ids[0]).model_version = "something else"
    archive_of(store, ids[1]).unlink()
    assert verify(database, store=store).first_bad == ids[0]
    assert "missing" in verify(database, ids[1], store=store).problem


@pytest.mark.parametrize(("field", "value", "named"), [
    ("status", "failed", "status was changed"),  # marked failed to hide it from lookups
    ("digest_version", "v9", "digest version 'v9'"),  # named, not a crash
])
def test_verify_names_a_chained_batch_whose_field_was_changed(database, store, record, field, value, named):
    ids = [record(decisions(["A"])) for _ in range(3)]
    with database.session() as session:
        setattr(session.get(Batch, ids[1]), field, value)
    report = verify(database, store=store)
    assert report.first_bad == ids[1] and named in report.problem


@pytest.mark.parametrize("kind", ["inline json", "inline"])
def test_verify_names_a_batch_whose_archive_in_its_row_no_longer_reads(database, store, record, kind, monkeypatch):
    as_lists = kind == "inline json"
    ids = [record(few(decisions(["A", "B"])) if as_lists else decisions(["A", "B"])) for _ in range(2)]
    with database.session() as session:
        batch = session.get(Batch, ids[0])
        assert (batch.archive_data[:1] == b"{") == as_lists
        batch.archive_data = batch.archive_data[: len(batch.archive_data) // 2]  # cut short
    report = verify(database, store=store)
    assert (report.ok, report.first_bad) == (False, ids[0])
    assert "unreadable" in report.problem


# --- retention

def test_months_before_keeps_the_day_or_takes_the_months_last():
    assert months_before(datetime(2026, 12, 1), 25) == datetime(2024, 11, 1)
    assert months_before(datetime(2026, 3, 31), 1) == datetime(2026, 2, 28)


def test_purge_deletes_only_what_is_past_retention_and_not_on_hold(database, store, record, monkeypatch):
    monkeypatch.setattr("webapp.records.archive.INLINE_BYTES", 0)
    monkeypatch.setattr("webapp.records.archive.ARROW_FILE_BYTES", 0)
    monkeypatch.setattr("webapp.records.archive.LARGE_FORMAT", "parquet")  # as batches recorded before
    old, held, recent = (record(decisions(["A", "B"])) for _ in range(3))
    hold(database, held, "examination pending")
    now = datetime.now(UTC)
    as_of = months_before(now, -25) + timedelta(minutes=1)  # 25 months on, the first two are due
    assert purge(database, as_of=now, store=store).purged == []  # nothing is 25 months old today
    with database.session() as session:  # `recent` inside the retention at as_of (its digest breaks)
        session.get(Batch, recent).created_at = as_of
    report = purge(database, as_of=as_of, store=store)
    assert report.purged == [old] and report.held == [held]
    assert not archive_of(store, old).exists() and archive_of(store, held).exists()
    with database.session() as session:
        with pytest.raises(BatchPurged):
            get_batch(session, old)
        assert [d["batch_id"] for d in decisions_for(session, "A", store=store)] == [recent, held]
    assert verify(database, store=store, as_of=as_of).first_bad == recent  # only the batch whose date the test changed


def test_a_hold_committed_while_a_purge_runs_keeps_its_batch(database, store, record):
    """PostgreSQL: the purge reads the due batches without locking them, so a hold may commit between
    that read and the DELETE. (SQLite's purge holds the one write lock from its start.)"""
    if database.backend == "sqlite":
        pytest.skip("SQLite's purge holds the write lock from its first statement")
    from sqlalchemy import event, text

    batch_id = record(decisions(["A"]))
    engine = database.engine

    held = []

    def hold_first(conn, cursor, statement, parameters, context, executemany):
        if not held and statement.lstrip().upper().startswith("DELETE FROM BATCHES"):
            held.append(True)
            with engine.connect() as other:  # another connection, committed before the DELETE runs
                other.execute(text("UPDATE batches SET hold_reason = 'lawsuit', held_at = now() WHERE id = :id"), {"id": batch_id})
                other.commit()

    event.listen(engine, "before_cursor_execute", hold_first)
    try:
        report = purge(database, as_of=months_before(datetime.now(UTC), -25) + timedelta(minutes=1), store=store)
    finally:
        event.remove(engine, "before_cursor_execute", hold_first)
    assert report.purged == [] and report.held == [batch_id]
    with database.session() as session:
        assert get_batch(session, batch_id)["hold"]["reason"] == "lawsuit"
    assert verify(database, store=store).ok


def _remove(database, batch_ids):
    """What someone who can write the database could do: the batches and their index rows gone."""
    from sqlalchemy import delete

    from webapp.records.models import DecisionIndex

    with database.session() as session:
        seqs = [session.get(Batch, batch_id).seq for batch_id in batch_ids]
        session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq.in_(seqs)))
        session.execute(delete(Batch).where(Batch.id.in_(batch_ids)))


def test_a_head_kept_outside_the_database_catches_the_newest_batches_removed(database, store, record):
    ids = [record(decisions(["A"])) for _ in range(3)]
    head = chain_head(database)
    assert verify(database, store=store, anchor=head).ok
    _remove(database, ids[1:])
    assert verify(database, store=store).ok  # the chain alone still links up: its tail is simply gone
    report = verify(database, store=store, anchor=head)
    assert report.first_bad == f"seq {head.seq}" and "no longer reaches the anchored head" in report.problem


def test_a_head_kept_outside_the_database_catches_a_chain_rebuilt_from_the_start(database, store, record):
    ids = [record(decisions(["A"])) for _ in range(2)]
    head = chain_head(database)
    _remove(database, ids)
    rebuilt = [record(decisions(["B"])) for _ in range(2)]
    assert verify(database, store=store).ok
    report = verify(database, store=store, anchor=head)
    assert report.first_bad == rebuilt[-1] and "rewritten" in report.problem


def test_a_head_survives_a_purge_and_is_read_back_as_printed(database, store, record):
    ids = [record(decisions(["A"])) for _ in range(2)]
    head = chain_head(database)
    as_of = months_before(datetime.now(UTC), -25) + timedelta(minutes=1)
    purge(database, as_of=as_of, store=store)
    assert chain_head(database) == head  # the deletion entry holds the link now
    assert verify(database, store=store, anchor=ChainHead.parse(str(head)), as_of=as_of).ok and ids
    with pytest.raises(RecordError):
        ChainHead.parse("7:not-a-digest")


def test_the_chain_verifies_after_a_purge(database, store, record):
    ids = [record(decisions(["A"])) for _ in range(4)]
    hold(database, ids[2], "lawsuit")
    hold(database, ids[3], "lawsuit")
    as_of = months_before(datetime.now(UTC), -25) + timedelta(minutes=1)
    report = purge(database, as_of=as_of, store=store)
    assert report.purged == ids[:2]
    assert verify(database, store=store, as_of=as_of).ok
    release(database, ids[2])
    later = months_before(datetime.now(UTC), -26)
    assert purge(database, as_of=later, store=store).purged == [ids[2]]
    assert verify(database, store=store, as_of=later).ok
    with database.session() as session:
        assert get_batch(session, ids[3])["hold"]["reason"] == "lawsuit"


def test_a_hold_needs_a_reason_and_an_existing_batch(database, record):
    batch_id = record(decisions(["A"]))
    with pytest.raises(RecordError, match="reason"):
        hold(database, batch_id, "  ")
    with pytest.raises(BatchNotFound):
        hold(database, "f" * 32, "x")


def test_a_hold_and_its_audit_event_are_one_transaction(database, record):
    batch_id = record(decisions(["A"]))

    def event_cannot_be_written(session):
        raise OSError("disk full")

    with pytest.raises(OSError):
        hold(database, batch_id, "exam", also=event_cannot_be_written)
    with database.session() as session:
        assert get_batch(session, batch_id)["hold"] is None  # no hold without its event
    seen = []
    hold(database, batch_id, "exam", also=lambda session: seen.append(session.get(Batch, batch_id).hold_reason))
    assert seen == ["exam"]


# --- export

@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_streams_every_decision_since_a_date_with_the_union_of_the_inputs(database, store, record, tmp_path, fmt,
                                                                                 archive_kind):
    first = record(decisions(["A", "B"]))
    second = record(decisions(["C"]).drop_columns(["input.Gender"]).append_column("input.Married", pa.array(["No"])))
    out = tmp_path / f"out.{fmt}"
    assert export(database, datetime(2000, 1, 1), fmt, str(out), store=store) == 3
    nulls_unquoted = pa.csv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
    table = pq.read_table(out) if fmt == "parquet" else pa.csv.read_csv(out, convert_options=nulls_unquoted)
    assert table["batch_id"].to_pylist() == [first, first, second]
    assert table["input.Married"].to_pylist() == [None, None, "No"]
    assert table.column_names[:4] == ["batch_id", "created_at", "model_version", "row"]
    assert export(database, datetime(2999, 1, 1), fmt, str(tmp_path / f"none.{fmt}"), store=store) == 0


def test_a_lookup_in_a_large_archive_reads_only_the_row_groups_that_hold_the_row(database, store, record, monkeypatch):
    monkeypatch.setattr("webapp.records.archive.INLINE_BYTES", 0)
    monkeypatch.setattr("webapp.records.archive.ARROW_FILE_BYTES", 0)
    monkeypatch.setattr("webapp.records.archive.LARGE_FORMAT", "parquet")  # as batches recorded before
    chunks = [decisions([f"L{offset + i}" for i in range(50)], start=offset + 1) for offset in range(0, 150, 50)]
    with_file = record(chunks)
    read = []
    real = pq.ParquetFile.read_row_groups
    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", lambda self, groups, **kw: read.append(groups)
                        or real(self, groups, **kw))
    with database.session() as session:
        (found,) = decisions_for(session, "L120", store=store)
    assert (found["batch_id"], found["row"]) == (with_file, 121)
    assert read == [[2]]



# --- actions (what the notices are made from)

def test_a_batch_keeps_each_rows_action_and_reads_back_those_asked_for(database, store, record, archive_kind):
    table = decisions(["LP1", "LP2", "LP3", "LP4"], probabilities=[0.2, 0.9, 0.3, None])
    table = table.append_column("action", pa.array(["incomplete", "approve", "decline", None], pa.string()))
    batch_id = record(table)
    with database.session() as session:
        fields, found = batch_decisions(session, batch_id, ("decline", "incomplete"), store=store)
        assert fields["batch_id"] == batch_id
        assert [(d["loan_id"], d["action"]) for d in found] == [("LP1", "incomplete"), ("LP3", "decline")]
        assert [d["action"] for d in decisions_for(session, "LP2", store=store)] == ["approve"]


def test_an_archive_older_than_the_action_column_gives_it_from_the_status(database, store, record, archive_kind):
    batch_id = record(decisions(["LP1", "LP2", "LP3"], probabilities=[0.2, 0.9, None]))
    with database.session() as session:
        _, every = batch_decisions(session, batch_id, store=store)
        assert [d["action"] for d in every] == ["decline", "approve", None]
        assert [d["loan_id"] for d in batch_decisions(session, batch_id, ("decline",), store=store)[1]] == ["LP1"]


def test_only_a_complete_batch_has_decisions(database, record):
    with database.session() as session, pytest.raises(BatchNotFound):
        batch_decisions(session, "no-such-batch")


def test_a_lookup_in_a_large_arrow_archive_finds_its_row_in_whichever_chunk_holds_it(database, store, record,
                                                                                     monkeypatch):
    monkeypatch.setattr("webapp.records.archive.INLINE_BYTES", 0)
    monkeypatch.setattr("webapp.records.archive.ARROW_FILE_BYTES", 0)  # streamed, compressed
    chunks = [decisions([f"L{offset + i}" for i in range(50)], start=offset + 1) for offset in range(0, 150, 50)]
    with_file = record(chunks)
    assert archive_of(store, with_file).name == f"{with_file}.arrow"
    with database.session() as session:
        for loan_id, row in (("L0", 1), ("L120", 121), ("L149", 150)):
            (found,) = decisions_for(session, loan_id, store=store)
            assert (found["batch_id"], found["row"], found["loan_id"]) == (with_file, row, loan_id)


def test_a_purge_of_more_batches_than_one_step_takes_them_all_in_steps(database, store, record, monkeypatch):
    """A catch-up purge of many single-record batches: in bounded steps, every one purged, the chain intact."""
    monkeypatch.setattr("webapp.records.services.PURGE_STEP", 2)
    batches = [record(decisions([f"L{i}"])) for i in range(5)]
    hold(database, batches[2], "lawsuit")
    as_of = months_before(datetime.now(UTC), -25) + timedelta(minutes=1)
    report = purge(database, as_of=as_of, store=store)
    assert report.purged == batches[:2] + batches[3:] and report.held == [batches[2]]
    assert verify(database, store=store, as_of=as_of).ok


def test_a_batch_removed_by_hand_behind_a_forged_deletion_entry_is_found(database, store, record):
    """Someone who can write the database deletes a batch still within its retention and leaves an
    entry copied from its row: the entry's digest checks out, but the batch was not due."""
    from sqlalchemy import delete

    from webapp.records.digest import header_of, version_of
    from webapp.records.models import DecisionIndex

    ids = [record(decisions(["A"])) for _ in range(3)]
    with database.session() as session:
        batch = session.get(Batch, ids[1])
        session.add(Deletion(batch_id=batch.id, seq=batch.seq, created_at=months_before(batch.created_at, 30),
                             purged_at=datetime.now(UTC), status=batch.status, rows=batch.rows, scored=batch.scored,
                             failed=batch.failed, data_digest=batch.data_digest, prev_digest=batch.prev_digest,
                             digest=batch.digest, header=header_of(batch), digest_version=version_of(batch)))
        session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq == batch.seq))
        session.delete(batch)
    report = verify(database, store=store)
    assert report.first_bad == ids[1] and "deleted before its retention ran out" in report.problem
    assert verify(database, store=store, as_of=months_before(datetime.now(UTC), -26)).ok  # once it would be due


def test_a_deletion_entry_whose_header_was_changed_is_found(database, store, record):
    ids = [record(decisions(["A"])) for _ in range(2)]
    as_of = months_before(datetime.now(UTC), -25) + timedelta(minutes=1)
    purge(database, as_of=as_of, store=store)
    with database.session() as session:
        entry = session.query(Deletion).filter_by(batch_id=ids[0]).one()
        entry.header = entry.header.replace('"rows":1', '"rows":2')
    report = verify(database, store=store, as_of=as_of)
    assert report.first_bad == ids[0] and "not the batch it stands for" in report.problem


def test_a_deletion_entry_without_a_header_fails_verify_unless_such_entries_are_accepted(database, store, record):
    """Only purges before migration 0011 wrote entries without a header; anyone else's is a batch
    removed by hand, which verify cannot check beyond its link."""
    ids = [record(decisions(["A"])) for _ in range(3)]
    as_of = months_before(datetime.now(UTC), -25) + timedelta(minutes=1)
    purge(database, as_of=as_of, store=store)
    with database.session() as session:
        session.query(Deletion).filter_by(batch_id=ids[1]).one().header = None
    report = verify(database, store=store, as_of=as_of)
    assert report.unchecked_deletions == [ids[1]] and not report.ok
    assert verify(database, store=store, as_of=as_of, accept_unchecked_deletions=True).ok
