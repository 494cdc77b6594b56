"""`flask records …`: thin commands over the record's operations, with exit codes scripts can use."""
import pyarrow as pa
import pytest

from tests.records.conftest import decisions, rewrite, start
from webapp.records import Recorder, get_batch
from webapp.web.records import records_store


@pytest.fixture
def recorded(db_app):
    def record(table):
        recorder = Recorder(db_app.extensions["database"], start(), store=records_store(db_app))
        recorder.add(table)
        recorder.complete({})
        return recorder.batch_id
    return record


def test_verify_passes_then_names_the_changed_batch(db_app, recorded):
    runner = db_app.test_cli_runner()
    ids = [recorded(decisions(["A", "B"])) for _ in range(2)]
    result = runner.invoke(args=["records", "verify"])
    assert result.exit_code == 0 and "verified 2 batch(es)" in result.output
    rewrite(db_app.extensions["database"], ids[0], lambda t: t.take([1, 0]), records_store(db_app))
    result = runner.invoke(args=["records", "verify"])
    assert result.exit_code == 1 and ids[0] in result.output
    assert runner.invoke(args=["records", "verify", "--batch", ids[1]]).exit_code == 0


def test_head_prints_the_chain_head_that_verify_anchor_checks(db_app, recorded):
    from sqlalchemy import delete

    from webapp.records.models import Batch, DecisionIndex

    runner = db_app.test_cli_runner()
    assert runner.invoke(args=["records", "head"]).exit_code == 1  # nothing recorded yet
    ids = [recorded(decisions(["A"])) for _ in range(2)]
    head = runner.invoke(args=["records", "head"]).output.strip()
    assert runner.invoke(args=["records", "verify", "--anchor", head]).exit_code == 0
    with db_app.extensions["database"].session() as session:  # the newest batch removed, its index too
        seq = session.get(Batch, ids[1]).seq
        session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq == seq))
        session.execute(delete(Batch).where(Batch.id == ids[1]))
    assert runner.invoke(args=["records", "verify"]).exit_code == 0
    result = runner.invoke(args=["records", "verify", "--anchor", head])
    assert result.exit_code == 1 and f"seq {seq}: the chain no longer reaches the anchored head" in result.output
    bad = runner.invoke(args=["records", "verify", "--anchor", "2:xyz"])
    assert bad.exit_code == 1 and "SEQ:DIGEST" in bad.output


def test_verify_names_a_batch_whose_index_differs_and_reindex_mends_it(db_app, recorded):
    from sqlalchemy import delete

    from webapp.records.models import Batch, DecisionIndex

    runner = db_app.test_cli_runner()
    ids = [recorded(decisions(["A", "B"])) for _ in range(2)]
    with db_app.extensions["database"].session() as session:
        seq = session.get(Batch, ids[1]).seq
        session.execute(delete(DecisionIndex).where(DecisionIndex.batch_seq == seq))
    result = runner.invoke(args=["records", "verify"])
    assert result.exit_code == 1
    assert f"index of batch {ids[1]} differs from its decisions: 2 row(s) missing" in result.output
    assert f"flask records reindex --batch {ids[1]}" in result.output
    assert "chain is intact" not in result.output and ids[0] not in result.output
    result = runner.invoke(args=["records", "reindex", "--batch", ids[1]])
    assert result.exit_code == 0 and f"rebuilt the index of 1 batch(es): {ids[1]}" in result.output
    assert runner.invoke(args=["records", "verify"]).exit_code == 0
    assert "rebuilt the index of 0 batch(es)" in runner.invoke(args=["records", "reindex"]).output
    unknown = runner.invoke(args=["records", "reindex", "--batch", "f" * 32])
    assert unknown.exit_code != 0 and "no batch" in unknown.output.lower()


def test_verify_reports_index_rows_that_point_to_no_batch(db_app, recorded):
    from sqlalchemy import insert

    from webapp.records.models import DecisionIndex

    runner = db_app.test_cli_runner()
    recorded(decisions(["A"]))
    with db_app.extensions["database"].session() as session:
        session.execute(insert(DecisionIndex).values(loan_key=7, batch_seq=99, row=1))
    result = runner.invoke(args=["records", "verify"])
    assert result.exit_code == 1 and "1 chain position(s) with no batch (99)" in result.output
    assert runner.invoke(args=["records", "reindex"]).exit_code == 0
    assert runner.invoke(args=["records", "verify"]).exit_code == 0


def test_hold_release_and_purge(db_app, recorded):
    runner = db_app.test_cli_runner()
    batch_id = recorded(decisions(["A"]))
    assert runner.invoke(args=["records", "hold", batch_id, "--reason", "exam"]).exit_code == 0
    refused = runner.invoke(args=["records", "purge", "--as-of", "2999-01-01"])  # far ahead: only when meant
    assert refused.exit_code == 1 and "after today" in refused.output and "--force" in refused.output
    result = runner.invoke(args=["records", "purge", "--as-of", "2999-01-01", "--force"])
    assert result.exit_code == 0 and "purged 0" in result.output and "1 on hold" in result.output
    assert runner.invoke(args=["records", "release", batch_id]).exit_code == 0
    assert "purged 1" in runner.invoke(args=["records", "purge", "--as-of", "2999-01-01", "--force"]).output
    early = runner.invoke(args=["records", "verify"])  # as of today that batch was not yet due
    assert early.exit_code == 1 and "deleted before its retention ran out" in early.output
    assert runner.invoke(args=["records", "verify", "--as-of", "2999-01-01"]).exit_code == 0
    unknown = runner.invoke(args=["records", "hold", "f" * 32, "--reason", "x"])
    assert unknown.exit_code != 0 and "no batch" in unknown.output.lower()


def test_a_retention_under_25_months_purges_only_when_forced(db_app, recorded):
    recorded(decisions(["A"]))
    db_app.config["RECORD_RETENTION_MONTHS"] = 12
    runner = db_app.test_cli_runner()
    refused = runner.invoke(args=["records", "purge"])
    assert refused.exit_code == 1 and "1002.12(b)(1)" in refused.output
    assert runner.invoke(args=["records", "purge", "--force"]).exit_code == 0


def test_replay_uses_the_wired_scorer_and_exits_1_on_a_difference(db_app, recorded):
    runner = db_app.test_cli_runner()
    table = decisions(["A", "B"])
    batch_id = recorded(table)
    db_app.extensions.pop("score_frame")
    assert "no scorer" in runner.invoke(args=["records", "replay", batch_id]).output
    db_app.extensions["score_frame"] = lambda frame: table
    result = runner.invoke(args=["records", "replay", batch_id])
    assert result.exit_code == 0 and "every decision matches" in result.output
    changed = table.set_column(3, "probability", pa.array([0.0, 0.99]))
    db_app.extensions["score_frame"] = lambda frame: changed
    result = runner.invoke(args=["records", "replay", batch_id])
    assert result.exit_code == 1 and "row 1 A: probability" in result.output


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_every_decision_since_a_date(db_app, recorded, tmp_path, fmt):
    batch_id = recorded(decisions(["A", "B"]))
    out = tmp_path / f"export.{fmt}"
    result = db_app.test_cli_runner().invoke(args=["records", "export", "--since", "2000-01-01", "--format", fmt,
                                                   "--output", str(out)])
    assert result.exit_code == 0 and "wrote 2 decision(s)" in result.output
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_table(out)["batch_id"].to_pylist() == [batch_id] * 2
    else:
        assert out.read_text().splitlines()[0].startswith('"batch_id","created_at","model_version","row"')
    with db_app.extensions["database"].session() as session:
        assert get_batch(session, batch_id)["status"] == "complete"


def test_a_hold_and_its_release_are_events_naming_the_os_user(db_app, recorded, monkeypatch):
    from webapp.accounts import services

    monkeypatch.setattr("getpass.getuser", lambda: "records-officer")
    runner = db_app.test_cli_runner()
    batch_id = recorded(decisions(["A"]))
    assert runner.invoke(args=["records", "hold", batch_id, "--reason", "exam 2026-3"]).exit_code == 0
    assert runner.invoke(args=["records", "release", batch_id]).exit_code == 0
    assert runner.invoke(args=["records", "hold", "f" * 32, "--reason", "x"]).exit_code != 0  # no event
    with db_app.extensions["database"].session() as s:
        events = [(e["actor"], e["action"], e["detail"], e["client"]) for e in reversed(services.events(s))]
    assert events == [("cli:records-officer", "record_held", f"{batch_id}: exam 2026-3", "cli"),
                      ("cli:records-officer", "record_released", batch_id, "cli")]
