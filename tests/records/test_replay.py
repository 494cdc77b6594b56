"""Replay: the stored inputs, re-scored, give back every recorded status, probability and reason."""
import math

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.records.conftest import CONTRIBUTIONS, REASONS, start
from webapp.records import BatchNotFound, Recorder, replay


def fake_score_frame(frame: pd.DataFrame, *, shift: float = 0.0) -> pa.Table:
    """A stand-in for the model: a logistic curve of the income; a row without an area fails."""
    probabilities, errors, codes, contributions = [], [], [], []
    for income, area in zip(frame["ApplicantIncome"], frame["Property_Area"]):
        if pd.isna(area) or area == "Mars":
            probabilities.append(None)
            errors.append("Property_Area: not one of Rural, Semiurban, Urban")
            codes.append([])
            contributions.append([])
            continue
        logit = (0.0 if pd.isna(income) else (income - 5000) / 1000) + shift
        p = 1 / (1 + math.exp(-logit))
        probabilities.append(p)
        errors.append(None)
        codes.append(["INCOME_LOW"] if p < 0.5 else [])
        contributions.append([logit] if p < 0.5 else [])
    n = len(frame)
    return pa.table({
        "row": pa.array(range(1, n + 1), pa.int64()),
        "loan_id": pa.array(frame["Loan_ID"], pa.string(), from_pandas=True),
        "status": pa.array([None if p is None else ("Y" if p >= 0.5 else "N") for p in probabilities], pa.string()),
        "probability": pa.array(probabilities, pa.float64()),
        "error": pa.array(errors, pa.string()),
        "reason_codes": pa.array(codes, REASONS),
        "reason_contributions": pa.array(contributions, CONTRIBUTIONS),
        "input.ApplicantIncome": pa.array(frame["ApplicantIncome"], pa.float64(), from_pandas=True),
        "input.Property_Area": pa.array(frame["Property_Area"], pa.string(), from_pandas=True),
        "input.Gender": pa.array(frame["Gender"], pa.string(), from_pandas=True),
    })


def scored_and_recorded(database, store, frame: pd.DataFrame, chunk: int = 7) -> str:
    recorder = Recorder(database, start(), store=store)
    decisions = fake_score_frame(frame)
    for offset in range(0, len(frame), chunk):
        recorder.add(decisions.slice(offset, chunk))
    recorder.complete({})
    return recorder.batch_id


applications = st.lists(st.tuples(st.text(min_size=1, max_size=12),
                                  st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False)),
                                  st.sampled_from(["Urban", "Rural", "Mars", None]),
                                  st.sampled_from(["Female", "Male", "Robot", "", None])), max_size=40)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=applications)
def test_replay_of_a_generated_file_equals_the_original(database, store, rows):
    frame = pd.DataFrame(rows, columns=["Loan_ID", "ApplicantIncome", "Property_Area", "Gender"], dtype=object)
    frame["ApplicantIncome"] = frame["ApplicantIncome"].astype(float)
    batch_id = scored_and_recorded(database, store, frame)
    report = replay(database, batch_id, fake_score_frame, store=store)
    assert report.ok, report.differences[:3]
    assert report.rows == len(rows)


def test_replay_reports_each_difference_row_by_row(database, store):
    frame = pd.DataFrame({"Loan_ID": ["A", "B"], "ApplicantIncome": [4000.0, 9000.0], "Property_Area": ["Urban"] * 2,
                          "Gender": [None, "Male"]})
    batch_id = scored_and_recorded(database, store, frame)
    report = replay(database, batch_id, lambda f: fake_score_frame(f, shift=1e-9), store=store)
    assert not report.ok
    assert {(d["row"], d["loan_id"], d["field"]) for d in report.differences} == {
        (1, "A", "probability"), (1, "A", "reason_contributions"), (2, "B", "probability")}


def test_the_frame_given_to_the_scorer_has_the_contract_names(database, store):
    frame = pd.DataFrame({"Loan_ID": ["007"], "ApplicantIncome": [None], "Property_Area": ["Rural"], "Gender": [""]})
    batch_id = scored_and_recorded(database, store, frame)
    seen = []
    replay(database, batch_id, lambda f: seen.append(f) or fake_score_frame(f), store=store)
    assert list(seen[0].columns) == ["Loan_ID", "ApplicantIncome", "Property_Area", "Gender"]
    assert seen[0].iloc[0]["Loan_ID"] == "007" and seen[0].iloc[0]["Gender"] == ""


def test_an_unknown_or_purged_batch_cannot_be_replayed(database, store):
    with pytest.raises(BatchNotFound):
        replay(database, "0" * 32, fake_score_frame, store=store)
