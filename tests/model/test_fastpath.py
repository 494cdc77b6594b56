"""The numpy form of the pipeline must equal predict_proba, or not be used at all."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from tests import factories
from webapp.model import training
from webapp.core.contract import CATEGORICAL_FEATURES
from webapp.model.fastpath import compile_scorer
from webapp.model.pipeline import build_pipeline


@pytest.fixture(scope="module")
def fitted():
    frame = factories.applications(200, seed=8, labelled=True)
    labels = (frame.pop("Loan_Status") == "Y").astype(int)
    pipeline = build_pipeline(LogisticRegression(C=0.5, max_iter=2000)).fit(frame, labels)
    card = {"features": training.feature_contract(frame)}
    return pipeline, card


def as_validated(frame: pd.DataFrame, card: dict) -> pd.DataFrame:
    """What validation hands on: Categoricals in the training spelling, floats elsewhere."""
    allowed = {f["name"]: sorted(f["allowed"]) for f in card["features"] if f["kind"] == "category"}
    out = frame.drop(columns=["Loan_ID"]).copy()
    for name in CATEGORICAL_FEATURES:
        out[name] = pd.Categorical(out[name], categories=allowed[name])
    return out.astype({c: float for c in out.columns if c not in CATEGORICAL_FEATURES})


def test_the_shipped_shape_compiles(fitted):
    assert compile_scorer(*fitted) is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 100_000), st.integers(1, 80))
def test_equals_predict_proba_on_random_applications(fitted, seed, rows):
    pipeline, card = fitted
    frame = factories.applications(rows, seed=seed)
    scorer = compile_scorer(pipeline, card)
    expected = pipeline.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(scorer(as_validated(frame, card)), expected, rtol=0, atol=1e-9)


def test_other_estimators_use_the_pipeline(fitted):
    _, card = fitted
    frame = factories.applications(100, seed=3, labelled=True)
    labels = (frame.pop("Loan_Status") == "Y").astype(int)
    forest = build_pipeline(RandomForestClassifier(n_estimators=5, random_state=0)).fit(frame, labels)
    assert compile_scorer(forest, card) is None


def test_a_disagreement_disables_it(fitted, monkeypatch):
    import webapp.model.fastpath as fastpath

    monkeypatch.setattr(fastpath, "TOLERANCE", -1.0)  # nothing can agree this closely
    assert compile_scorer(*fitted) is None


def test_loaded_model_scores_the_same_either_way(loaded_model):
    frame = factories.applications(50, seed=12)
    from webapp.core.scoring import score

    through_core = pd.concat(list(score(frame.to_csv(index=False).encode(), loaded_model)))
    expected = loaded_model.pipeline.predict_proba(frame)[:, 1].round(4)
    np.testing.assert_allclose(through_core["Approval_Probability"].to_numpy(), expected, atol=1e-4)
