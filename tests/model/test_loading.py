import json
import shutil

import numpy as np
import pandas as pd
import pytest

from webapp.config import PROJECT_ROOT
from webapp.model.loading import ModelLoadError, load_model

SHIPPED = PROJECT_ROOT / "models" / "loan_pipeline.joblib"


def test_shipped_model_scores_every_row_of_the_real_test_file(shared_data):
    model = load_model(SHIPPED)
    frame = pd.read_csv(shared_data / "loan_test.csv")
    proba = model.approval_probability(frame)
    assert len(proba) == 367 and np.all((proba >= 0) & (proba <= 1))


def test_shipped_card_reaches_the_figures():
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    cv = card["cv"]
    assert cv["folds"] == 5 and cv["repeats"] == 3
    assert cv["accuracy_mean"] >= 0.80 and cv["roc_auc_mean"] >= 0.75
    # Decided without Gender, Married or Dependents, and the card says what that costs.
    assert not {"Gender", "Married", "Dependents"} & set(card["decision_features"])
    assert card["cv_with_protected_attributes"]["accuracy_mean"] > 0


def _copy(model_path, tmp_path):
    target = tmp_path / "copy.joblib"
    shutil.copy(model_path, target)
    shutil.copy(model_path.with_suffix(".json"), target.with_suffix(".json"))
    return target


def test_another_scikit_learn_version_is_refused_with_how_to_retrain(model_path, tmp_path):
    target = _copy(model_path, tmp_path)
    card = json.loads(target.with_suffix(".json").read_text())
    card["scikit_learn_version"] = "0.24.2"
    target.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match=r"trained with scikit-learn 0\.24\.2.*flask --app webapp train"):
        load_model(target)


def test_an_artifact_that_does_not_match_its_card_is_not_unpickled(model_path, tmp_path):
    target = _copy(model_path, tmp_path)
    target.write_bytes(target.read_bytes() + b"tampered")
    with pytest.raises(ModelLoadError, match="does not match its card"):
        load_model(target)


def test_a_missing_model_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelLoadError, match="No model at .*Retrain"):
        load_model(tmp_path / "absent.joblib")
