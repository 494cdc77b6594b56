"""Principal reasons: only what lowered the score, most damaging first, at most four."""
import numpy as np
import pandas as pd

from webapp.core.reasons import (
    MAX_REASONS,
    REASON_CODES_COLUMN,
    REASON_COLUMNS,
    REASONS,
    REASONS_BY_CODE,
    Explanations,
    principal_reasons,
    reason_columns,
    reason_for,
)

FEATURES = ("Credit_History", "LoanAmount", "ApplicantIncome", "Education", "Property_Area", "Loan_Amount_Term")


def explanations(contributions):
    contributions = np.array(contributions, dtype=float)
    reasons = np.array([[REASONS.index(reason_for(f, "missing")) for f in FEATURES]] * len(contributions))
    return Explanations(probability=np.full(len(contributions), .5), contributions=contributions,
                        reasons_of=lambda rows: reasons[rows], features=FEATURES, base=0.0, method="test")


def test_only_features_that_lowered_the_score_ordered_most_damaging_first():
    principal = principal_reasons(explanations([[-0.1, 0.5, -2.0, 0.0, -0.3, 0.2]]))
    cited = [REASONS[i].feature for i in principal[0] if i >= 0]
    assert cited == ["ApplicantIncome", "Property_Area", "Credit_History"]
    assert principal[0, 3] == -1


def test_at_most_four_reasons():
    principal = principal_reasons(explanations([[-1, -2, -3, -4, -5, -6]]))
    assert principal.shape == (1, MAX_REASONS)
    assert [REASONS[i].feature for i in principal[0]] == ["Loan_Amount_Term", "Property_Area", "Education",
                                                           "ApplicantIncome"]


def test_no_reasons_when_nothing_lowered_the_score():
    assert (principal_reasons(explanations([[0.1, 0, 0.2, 0.3, 0, 1]])) == -1).all()


def test_reason_columns_carry_texts_and_joined_codes():
    principal = np.array([[0, 8, -1, -1], [-1, -1, -1, -1]], dtype=np.int16)
    columns = reason_columns(principal)
    assert list(columns) == [*REASON_COLUMNS, REASON_CODES_COLUMN]
    assert columns["Reason_1"][0] == REASONS[0].text and columns["Reason_2"][0] == REASONS[8].text
    assert columns["Reason_3"][0] == "" and columns["Reason_1"][1] == ""
    assert columns[REASON_CODES_COLUMN][0] == f"{REASONS[0].code};{REASONS[8].code}"
    assert columns[REASON_CODES_COLUMN][1] == ""


def test_every_decision_feature_has_a_reason_for_every_way_it_can_lower_a_score():
    from webapp.core.contract import DECISION_FEATURES, FEATURES_BY_NAME

    for name in DECISION_FEATURES:
        ways = ("value",) if FEATURES_BY_NAME[name].kind == "category" else ("low", "high")
        for way in (*ways, "missing"):
            assert reason_for(name, way).code in REASONS_BY_CODE
    assert len({r.code for r in REASONS}) == len(REASONS) and len({r.text for r in REASONS}) == len(REASONS)
