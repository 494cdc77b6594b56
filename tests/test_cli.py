import json


def test_train_command_writes_artifact_and_card(runner, training_csv, tmp_path):
    out = tmp_path / "m.joblib"
    result = runner.invoke(args=["train", "--data", str(training_csv), "--output", str(out),
                                 "--folds", "3", "--repeats", "1", "--quick", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "ROC AUC" in result.output
    assert json.loads(out.with_suffix(".json").read_text())["cv"]["folds"] == 3
