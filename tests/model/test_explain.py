"""Explanations are exact: base + contributions = logit(p) for every row, from the fitted parameters."""
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import logit

from tests import factories
from webapp.config import PROJECT_ROOT
from webapp.core.contract import DECISION_FEATURES, FEATURES_BY_NAME
from webapp.core.limits import Limits
from webapp.core.reasons import REASONS, principal_reasons
from webapp.core.validation import check_chunk, match_columns
from webapp.model.loading import load_model

SHIPPED = PROJECT_ROOT / "models" / "loan_pipeline.joblib"


@pytest.fixture(scope="module")
def shipped():
    return load_model(SHIPPED)


def validated(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The decision features as validation hands them to the model."""
    contract = model.contract
    columns = list(frame.columns)
    raw = frame.astype(object).copy()
    raw.columns = range(len(columns))
    checked = check_chunk(raw, match_columns(columns, contract.required_columns, contract.monitored_only), contract,
                          Limits())
    assert checked.valid.all()
    return checked.features


@st.composite
def applications(draw):
    """Random applications, with missing values anywhere and numbers over their whole range."""
    n = draw(st.integers(1, 40))
    frame = factories.applications(n, seed=draw(st.integers(0, 100_000))).astype(object)
    for _ in range(draw(st.integers(0, 3 * n))):
        column = draw(st.sampled_from(DECISION_FEATURES))
        feature = FEATURES_BY_NAME[column]
        values = st.floats(0, feature.maximum) if feature.kind == "number" else st.nothing()
        frame.loc[draw(st.integers(0, n - 1)), column] = draw(st.one_of(st.none(), values))
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(applications())
def test_contributions_add_up_to_the_log_odds(shipped, frame):
    features = validated(shipped, frame)
    explained = shipped.explain(features)
    p = shipped.approval_probability(features)
    assert np.array_equal(explained.probability, p)  # the same probability, bit for bit
    total = explained.base + explained.contributions.sum(axis=1)
    np.testing.assert_allclose(total, logit(p), rtol=0, atol=1e-6)
    assert explained.features == tuple(shipped.scorer.feature_order) and set(explained.features) == set(DECISION_FEATURES)


def test_the_base_is_the_training_population_average(shipped, shared_data):
    train = pd.read_csv(shared_data / "loan_train.csv").drop(columns=["Loan_Status"])
    explained = shipped.explain(validated(shipped, train))
    # Relative to the training population, contributions average to zero: the base is its mean log-odds.
    np.testing.assert_allclose(explained.contributions.mean(axis=0), 0, atol=1e-9)
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert card["explanation"]["base_log_odds"] == pytest.approx(explained.base)
    assert "average of all applicants" in card["explanation"]["reference"]


def test_bad_credit_history_is_the_first_reason(shipped):
    frame = factories.applications(30, seed=2)
    frame["Credit_History"] = 0.0
    explained = shipped.explain(validated(shipped, frame))
    first = principal_reasons(explained)[:, 0]
    assert {REASONS[i].code for i in first} == {"CREDIT_HISTORY"}


def test_a_missing_value_is_named_as_missing(shipped):
    frame = factories.applications(5, seed=2)
    frame["Credit_History"] = np.nan
    explained = shipped.explain(validated(shipped, frame))
    j = explained.features.index("Credit_History")
    assert {REASONS[i].code for i in explained.reasons_of(np.arange(5))[:, j]} == {"CREDIT_HISTORY_MISSING"}


def test_other_estimators_have_no_explainer(forest_model_path):
    model = load_model(forest_model_path)
    assert model.explainer is None and model.explain(validated(model, factories.applications(3))) is None
    card = json.loads(forest_model_path.with_suffix(".json").read_text())
    assert card["explanation"]["method"] is None
