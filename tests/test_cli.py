import json

import pytest


def test_train_command_writes_artifact_and_card(runner, training_csv, tmp_path):
    out = tmp_path / "m.joblib"
    result = runner.invoke(args=["train", "--data", str(training_csv), "--output", str(out),
                                 "--folds", "3", "--repeats", "1", "--quick", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "ROC AUC" in result.output
    assert json.loads(out.with_suffix(".json").read_text())["cv"]["folds"] == 3


def test_score_command_writes_predictions_and_a_summary(runner, tmp_path):
    from tests import factories

    source = tmp_path / "batch.csv"
    frame = factories.applications(12)
    frame.loc[0, "Property_Area"] = "Mars"
    frame.to_csv(source, index=False)
    result = runner.invoke(args=["score", str(source)])
    assert result.exit_code == 0, result.output
    assert "12 rows: 11 scored, 1 failed" in result.output and "1 × Property_Area: not an allowed value" in result.output
    written = (tmp_path / "batch-predictions.csv").read_text().splitlines()
    assert written[0] == "Loan_ID,Loan_Status,Approval_Probability,Error,Action" and len(written) == 13
    assert "no monitored attribute below four-fifths" in result.output


def test_score_command_prints_flagged_attributes(runner, tmp_path):
    from tests import factories

    source = tmp_path / "skewed.csv"
    factories.disparate_applications().to_csv(source, index=False)
    result = runner.invoke(args=["score", str(source)])
    assert result.exit_code == 0, result.output
    assert "approval parity below four-fifths for" in result.output and "Gender" in result.output


def test_score_command_excel_and_json(runner, tmp_path):
    import json

    import openpyxl

    from tests import factories

    source = tmp_path / "batch.csv"
    factories.applications(4).to_csv(source, index=False)
    assert runner.invoke(args=["score", str(source), "--format", "xlsx", "--output", str(tmp_path / "o.xlsx")]).exit_code == 0
    assert openpyxl.load_workbook(tmp_path / "o.xlsx").active.max_row == 5
    assert runner.invoke(args=["score", str(source), "--format", "json", "--output", str(tmp_path / "o.json")]).exit_code == 0
    assert len(json.loads((tmp_path / "o.json").read_text())["predictions"]) == 4


def test_score_command_fails_clearly_on_a_whole_file_error(runner, tmp_path):
    source = tmp_path / "wrong.csv"
    source.write_text("a,b\n1,2\n")
    result = runner.invoke(args=["score", str(source)])
    assert result.exit_code == 1 and "wrong.csv: Missing columns: Loan_ID" in result.output


def test_purge_results_command(runner):
    result = runner.invoke(args=["purge-results"])
    assert result.exit_code == 0 and "expired 0 result(s)" in result.output


def test_score_command_explains_declines(runner, tmp_path):
    from tests import factories

    source = tmp_path / "batch.csv"
    frame = factories.applications(12, seed=4)
    frame.loc[0:2, "Credit_History"] = 0.0
    frame.to_csv(source, index=False)
    result = runner.invoke(args=["score", str(source), "--explain"])
    assert result.exit_code == 0, result.output
    header = (tmp_path / "batch-predictions.csv").read_text().splitlines()[0]
    assert header.endswith(",Reason_1,Reason_2,Reason_3,Reason_4,Reason_Codes,Action")
    assert "principal reasons for declines:" in result.output and "(CREDIT_HISTORY)" in result.output


def test_score_command_prints_the_evaluation_and_drift(runner, tmp_path):
    from tests import factories

    source = tmp_path / "labelled.csv"
    frame = factories.applications(150, seed=5, labelled=True)
    frame["LoanAmount"] *= 10
    frame.to_csv(source, index=False)
    result = runner.invoke(args=["score", str(source)])
    assert result.exit_code == 0, result.output
    assert "evaluation on 150 labelled rows" in result.output and "ROC AUC" in result.output
    assert "drift: major shift from the training data in LoanAmount" in result.output


def test_score_command_never_deletes_what_it_did_not_write(runner, tmp_path):
    from tests import factories

    source = tmp_path / "batch.csv"
    factories.applications(4).to_csv(source, index=False)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "part-00007.csv").write_text("stale part")
    refused = runner.invoke(args=["score", str(source), "--output", str(folder)])
    assert refused.exit_code == 1 and "not empty" in refused.output
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "part-00007.csv"]
    result = runner.invoke(args=["score", str(source), "--output", str(folder), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "part-00000.csv"]
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["in[1]", "a::b", "x*y"])
def test_a_plain_existing_path_is_taken_literally(runner, tmp_path, name):
    from tests import factories

    folder = tmp_path / name
    folder.mkdir()
    factories.applications(3).to_csv(folder / "part::1.csv", index=False)
    output = tmp_path / "answer.csv"
    result = runner.invoke(args=["score", str(folder), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert len(output.read_text().splitlines()) == 4


def test_train_by_an_admin_adds_a_candidate_and_leaves_the_shipped_artifact(app, training_csv, tmp_path, model_path):
    from tests.registry.apps import ROLES

    app.extensions["role_of"] = ROLES.get
    shipped = model_path.read_bytes()
    out = tmp_path / "copy.joblib"
    result = app.test_cli_runner().invoke(args=["train", "--data", str(training_csv), "--by", "ada@bank.example",
                                                "--output", str(out), "--folds", "3", "--repeats", "1", "--quick",
                                                "--jobs", "1", "--seed", "3"])
    assert result.exit_code == 0, result.output
    [candidate] = [v for v in app.extensions["model_registry"].versions() if v["status"] == "candidate"]
    assert f"added candidate {candidate['version']}" in result.output and out.exists()
    assert candidate["sha256"] == json.loads(out.with_suffix(".json").read_text())["artifact"]["sha256"]
    assert model_path.read_bytes() == shipped


def test_train_without_by_or_output_says_what_to_give(runner, training_csv):
    result = runner.invoke(args=["train", "--data", str(training_csv), "--quick"])
    assert result.exit_code == 2 and "--by EMAIL" in result.output


def test_score_command_records_the_purpose_it_is_given(runner, app, tmp_path):
    from sqlalchemy import select

    from tests import factories
    from webapp.records.models import Batch

    source = tmp_path / "revalidation.csv"
    factories.applications(5).to_csv(source, index=False)
    assert runner.invoke(args=["score", str(source), "--purpose", "analysis"]).exit_code == 0
    assert runner.invoke(args=["score", str(source)]).exit_code == 0
    with app.extensions["database"].session() as session:
        purposes = session.scalars(select(Batch.purpose).order_by(Batch.created_at)).all()
    assert purposes == ["analysis", "decision"]


def test_score_command_writes_no_decisions_when_the_record_cannot_be_written(runner, app, tmp_path, monkeypatch):
    import errno

    from tests import factories
    from webapp.records import recorder

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recorder, "publish", disk_full)
    source = tmp_path / "batch.csv"
    factories.applications(5).to_csv(source, index=False)
    result = runner.invoke(args=["score", str(source)])
    assert result.exit_code != 0 and "no space left on device" in result.output
    assert not (tmp_path / "batch-predictions.csv").exists()  # no answer without its record
