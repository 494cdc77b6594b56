"""Hypothesis strategies for applications as clients send them: every spelling the contract accepts
and many it refuses (missing tokens, odd types, numbers as text, huge values), under the contract's
headers or spelled otherwise, with columns outside the contract. Shared by the small-input property
(`tests/core/test_small_inputs.py`) and replay's (`tests/service/test_replay.py`)."""
from __future__ import annotations

from hypothesis import strategies as st

from webapp.core.contract import FEATURES

SPELLINGS = {
    "Gender": ["Male", "Female", "male", " FEMALE ", "F", "x"],
    "Married": ["Yes", "No", "yes", "N"],
    "Dependents": ["0", "1", "2", "3+", "3", 0, 2, 3, "4"],
    "Education": ["Graduate", "Not Graduate", "not-graduate", "NotGraduate", "PhD"],
    "Self_Employed": ["Yes", "No", "no", "maybe"],
    "Property_Area": ["Urban", "Rural", "Semiurban", "semi-urban", "SEMI URBAN", "Mars"],
}
MISSING = st.sampled_from([None, "", "NA", "n/a", "null", " "])
ODD = st.one_of(st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=2),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))


def numbers(maximum: float) -> st.SearchStrategy:
    plain = st.one_of(st.integers(-5, int(maximum * 2)), st.floats(-10, maximum * 2, allow_nan=False),
                      st.just(10 ** 30), st.just(1e308))
    as_text = plain.map(lambda v: f" {v} " if isinstance(v, int) else repr(v))
    integer_text = st.one_of(st.integers(-5, 10 ** 17).map(str), st.sampled_from(["007", "-0", "-00", "0", "+5", "٣"]))
    return st.one_of(plain, as_text, integer_text, st.sampled_from(["1e3", "1_000", "0x10", "inf", "-0", "١٢", "5."]),
                     MISSING, ODD)


def value_of(feature) -> st.SearchStrategy:
    if feature.kind == "category":
        return st.one_of(st.sampled_from(SPELLINGS[feature.name]), MISSING, ODD)
    if feature.kind == "flag":
        return st.one_of(st.sampled_from([0, 1, 1.0, "1", "0", 2, -1, "yes", True]), MISSING)
    return numbers(feature.maximum or 1e6)


LOAN_IDS = st.one_of(st.text(min_size=1, max_size=12), st.integers(0, 10 ** 6), st.just(""), st.just("  "),
                     st.none(), st.text(min_size=1001, max_size=1003))


@st.composite
def application(draw) -> dict:
    record = {"Loan_ID": draw(LOAN_IDS)}
    for feature in FEATURES:
        if not feature.decides and draw(st.booleans()) and draw(st.booleans()):
            continue  # a monitored attribute may be left out
        record[feature.name] = draw(value_of(feature))
    return record


HEADER_SPELLINGS = {"Loan_ID": "loan id", "ApplicantIncome": "Applicant Income", "Credit_History": "CREDIT-HISTORY",
                    "Property_Area": " property_area "}
EXTRA = {"Branch": st.one_of(st.text(max_size=6), st.integers(), st.none()),
         "Loan_Status": st.sampled_from(["Y", "N", "yes", "", None, 1]),
         "reasons": st.text(max_size=4)}


@st.composite
def request_records(draw) -> list[dict]:
    """Applications as a client sends them: the contract's headers, or spelled otherwise (case,
    spaces, hyphens), with or without columns outside the contract (an outcome, a branch)."""
    records = draw(st.lists(application(), min_size=1, max_size=300))
    if draw(st.booleans()):
        records = [{HEADER_SPELLINGS.get(key, key): value for key, value in record.items()} for record in records]
    extra = draw(st.lists(st.sampled_from(sorted(EXTRA)), unique=True, max_size=3))
    return [{**record, **{name: draw(EXTRA[name]) for name in extra}} for record in records]
