"""The `Loan_ID` index is derived data that verify holds to the decisions: each indexed batch's
index rows are exactly its (key, row) pairs, and `reindex` rebuilds one that is not."""
import pytest
from sqlalchemy import delete, insert, select, update

from tests.records.conftest import decisions, rewrite, start
from webapp.records import BatchNotFound, Recorder, decisions_for, reindex, verify
from webapp.records.digest import loan_key
from webapp.records.models import Batch, DecisionIndex
from webapp.records.recorder import INDEX_NOW_ROWS


def seq_of(database, batch_id):
    with database.session() as session:
        return session.get(Batch, batch_id).seq


def index_rows(database, batch_id):
    with database.session() as session:
        return sorted(session.execute(select(DecisionIndex.loan_key, DecisionIndex.row)
                                      .where(DecisionIndex.batch_seq == seq_of(database, batch_id))).all())


def row_removed(session, seq):
    session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq == seq, DecisionIndex.row == 2))


def row_added(session, seq):
    session.execute(insert(DecisionIndex).values(loan_key=loan_key("A"), batch_seq=seq, row=99))


def row_renumbered(session, seq):
    session.execute(update(DecisionIndex).where(DecisionIndex.batch_seq == seq, DecisionIndex.row == 3)
                    .values(row=7))


def tamper_index(database, batch_id, change):
    seq = seq_of(database, batch_id)
    with database.session() as session:
        change(session, seq)


@pytest.fixture
def three(record):
    """Three small batches (indexed in their own transaction), each of A, B, C at rows 1 to 3."""
    return [record(decisions(["A", "B", "C"])) for _ in range(3)]


def test_a_clean_record_verifies_its_index(database, store, three, archive_kind):
    report = verify(database, store=store)
    assert report.ok and report.index_problems == {}


@pytest.mark.parametrize(("change", "problem"), [
    (row_removed, "1 row(s) missing"),
    (row_added, "1 row(s) extra"),
    (row_renumbered, "1 row(s) with a wrong row number"),
], ids=["removed", "added", "renumbered"])
def test_verify_names_the_batch_whose_index_differs(database, store, three, change, problem, archive_kind):
    tamper_index(database, three[1], change)
    report = verify(database, store=store)
    assert not report.ok
    assert report.first_bad is None and report.checked == 3  # the chain is intact and fully checked
    assert report.index_problems == {three[1]: problem}
    assert verify(database, three[0], store=store).ok and not verify(database, three[1], store=store).ok


def test_a_changed_archive_is_a_digest_problem_not_an_index_one(database, store, three):
    rewrite(database, three[0], lambda t: t.take([1, 0, 2]), store)
    report = verify(database, store=store)
    assert report.first_bad == three[0] and "decisions differ" in report.problem
    assert report.index_problems == {}


def test_a_batch_not_indexed_yet_is_not_held_to_its_index(database, store, three):
    seq = seq_of(database, three[2])
    with database.session() as session:
        session.execute(update(Batch).where(Batch.id == three[2]).values(indexed=False))
        session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq == seq))
    assert verify(database, store=store).ok  # lookups read its archive meanwhile


def test_reindex_rebuilds_a_batch_from_its_archive(database, store, three, archive_kind):
    clean = index_rows(database, three[1])
    tamper_index(database, three[1], row_removed)
    tamper_index(database, three[1], row_added)
    assert reindex(database, three[1], store=store) == [three[1]]
    assert index_rows(database, three[1]) == clean
    assert verify(database, store=store).ok


def test_reindex_without_a_batch_rebuilds_only_the_indexes_that_differ(database, store, three):
    tamper_index(database, three[0], row_renumbered)
    tamper_index(database, three[2], row_removed)
    assert reindex(database, store=store) == [three[0], three[2]]
    assert verify(database, store=store).ok
    assert reindex(database, store=store) == []


def test_reindex_refuses_an_unknown_batch(database, three):
    with pytest.raises(BatchNotFound):
        reindex(database, "0" * 32)


def test_a_large_batch_indexed_on_its_thread_verifies_and_rebuilds(database, store):
    """Past INDEX_NOW_ROWS the index is written after the batch (COPY on PostgreSQL)."""
    n = INDEX_NOW_ROWS + 500
    recorder = Recorder(database, start(), store=store)
    recorder.add(decisions([f"L{i}" for i in range(n)]))
    recorder.complete({})
    recorder.wait_indexed()
    assert verify(database, store=store).ok
    tamper_index(database, recorder.batch_id, row_removed)
    assert verify(database, store=store).index_problems == {recorder.batch_id: "1 row(s) missing"}
    assert reindex(database, store=store) == [recorder.batch_id]
    assert verify(database, store=store).ok and len(index_rows(database, recorder.batch_id)) == n
    with database.session() as session:
        assert [d["row"] for d in decisions_for(session, "L1", store=store)] == [2]


def test_index_rows_that_point_to_no_batch_are_reported_and_reindex_removes_them(database, store, record):
    batch_id = record(decisions(["A", "B"]))
    stray = seq_of(database, batch_id) + 40
    with database.session() as session:
        session.execute(insert(DecisionIndex).values(loan_key=loan_key("Z"), batch_seq=stray, row=1))
    report = verify(database, store=store)
    assert (report.ok, report.first_bad, report.stray_index) == (False, None, [stray])
    reindex(database, store=store)
    assert verify(database, store=store).ok
    with database.session() as session:
        assert [d["loan_id"] for d in decisions_for(session, "A", store=store)] == ["A"]
