import json

import joblib
import numpy as np
import pytest

from tests import factories
from webapp.model import training
from webapp.core.contract import DECISION_FEATURES, FEATURE_NAMES
from webapp.core.errors import MissingColumns

CARD_KEYS = {"name", "version", "created_at", "scikit_learn_version", "python_version", "training_data", "cv",
             "cv_with_protected_attributes", "estimator", "threshold", "decision_features", "monitored_attributes",
             "features", "artifact"}
PROTECTED = {"Gender", "Married", "Dependents"}


def test_training_writes_a_working_artifact_and_its_card(model_path):
    card = json.loads(model_path.with_suffix(".json").read_text())
    assert CARD_KEYS <= card.keys()
    assert card["training_data"]["rows"] == 120 and len(card["training_data"]["sha256"]) == 64
    assert {"folds", "repeats", "accuracy_mean", "accuracy_std", "roc_auc_mean", "brier_mean"} <= card["cv"].keys()
    assert card["version"].endswith(card["artifact"]["sha256"][:8])
    pipeline = joblib.load(model_path)
    proba = pipeline.predict_proba(factories.applications(25, seed=9))
    assert proba.shape == (25, 2) and np.all((proba >= 0) & (proba <= 1))


def test_card_states_the_input_contract(model_path):
    features = {f["name"]: f for f in json.loads(model_path.with_suffix(".json").read_text())["features"]}
    assert tuple(features) == FEATURE_NAMES
    assert features["Dependents"]["allowed"] == ["0", "1", "2", "3+"]
    assert features["Credit_History"]["allowed"] == [0, 1]
    assert features["LoanAmount"] == {**features["LoanAmount"], "type": "number", "minimum": 0, "nullable": True}


def test_same_data_and_seed_give_the_same_figures(training_csv):
    options = training.TrainingOptions(folds=3, repeats=1, quick=True, seed=7)
    first = training.train(training_csv, options, progress=lambda _: None)
    second = training.train(training_csv, options, progress=lambda _: None)
    assert first.card["cv"] == second.card["cv"]


def test_one_standard_error_rule_prefers_the_simpler_candidate():
    simple = {"name": "simple", "accuracy_mean": 0.805, "accuracy_std": 0.02, "roc_auc_mean": 0.7}
    complex_ = {"name": "complex", "accuracy_mean": 0.809, "accuracy_std": 0.02, "roc_auc_mean": 0.7}
    assert training.choose_candidate([simple, complex_], n_scores=15)["name"] == "simple"
    clearly_better = {**complex_, "accuracy_mean": 0.85}
    assert training.choose_candidate([simple, clearly_better], n_scores=15)["name"] == "complex"


def test_training_data_without_the_label_is_refused(tmp_path):
    path = tmp_path / "unlabelled.csv"
    factories.applications(10).to_csv(path, index=False)
    with pytest.raises(MissingColumns, match="Loan_Status"):
        training.load_training_data(path)


def test_the_model_decides_without_sex_marital_status_or_family_size(model_path):
    card = json.loads(model_path.with_suffix(".json").read_text())
    assert tuple(card["decision_features"]) == DECISION_FEATURES and not PROTECTED & set(card["decision_features"])
    assert set(card["monitored_attributes"]) == PROTECTED | {"Education", "Self_Employed", "Property_Area"}
    features = {f["name"]: f for f in card["features"]}
    assert all(not features[name]["decides"] and features[name]["monitored"] and features[name]["why"]
               for name in PROTECTED)
    assert features["Property_Area"]["decides"] and features["Property_Area"]["monitored"]
    pipeline = joblib.load(model_path)
    used = {c for name, _, columns in pipeline.named_steps["preprocess"].transformers_ if name != "remainder"
            for c in columns}
    assert used == set(DECISION_FEATURES)


def test_the_card_shows_what_leaving_protected_attributes_out_costs(model_path):
    card = json.loads(model_path.with_suffix(".json").read_text())
    comparison = card["cv_with_protected_attributes"]
    assert {"accuracy_mean", "accuracy_std", "roc_auc_mean", "brier_mean", "note"} <= comparison.keys()


def test_protected_attributes_decide_only_when_asked_for_research(training_csv):
    options = training.TrainingOptions(folds=3, repeats=1, quick=True, include_protected=True)
    card = training.train(training_csv, options, progress=lambda _: None).card
    assert tuple(card["decision_features"]) == FEATURE_NAMES
