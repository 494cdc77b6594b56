"""Nothing is lost: every row comes out, in order, with a prediction or an error."""
import io

import numpy as np

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from webapp.core.errors import EmptyInput, InputTooLarge, MissingColumns, RowsFailed
from webapp.core.limits import Limits
from webapp.core.results import OUTPUT_COLUMNS
from webapp.core.scoring import score
from webapp.core.writing import to_records

BAD_CELLS = {"Property_Area": ["Mars", "=1+1"], "Self_Employed": ["maybe"], "ApplicantIncome": ["-1", "abc", "1e309"],
             "LoanAmount": ["1e12"], "Credit_History": ["2", "yes"], "Loan_ID": [""]}
# Monitored-only attributes never decide, so no value in them fails a row.
HARMLESS_CELLS = {"Gender": ["Robot", "=1+1", "x" * 2000], "Married": ["maybe"], "Dependents": ["7", "-1"]}


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def results(scoring) -> pd.DataFrame:
    return pd.concat(list(scoring), ignore_index=True)


@st.composite
def mixed_files(draw):
    n = draw(st.integers(1, 60))
    frame = factories.applications(n, seed=draw(st.integers(0, 10_000))).astype(object)
    broken = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(sorted(BAD_CELLS))), max_size=n))
    for row, column in broken:
        frame.loc[row, column] = draw(st.sampled_from(BAD_CELLS[column]))
    bad_rows = {row for row, _ in broken}
    harmless = draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(sorted(HARMLESS_CELLS))), max_size=n))
    for row, column in harmless:
        frame.loc[row, column] = draw(st.sampled_from(HARMLESS_CELLS[column]))
    return frame, bad_rows, draw(st.integers(1, 25))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mixed_files())
def test_rows_out_equal_rows_in_in_order_each_a_prediction_or_an_error(loaded_model, case):
    frame, bad_rows, chunk_rows = case
    out = results(score(to_csv(frame), loaded_model, limits=Limits(chunk_rows=chunk_rows)))
    assert list(out.columns) == [*OUTPUT_COLUMNS, "Action"]  # issue 25: every row's action
    assert out["Loan_ID"].tolist() == frame["Loan_ID"].fillna("").tolist()
    failed = out["Error"] != ""
    assert set(out.index[failed]) == bad_rows
    assert out.loc[failed, "Approval_Probability"].isna().all() and (out.loc[failed, "Loan_Status"] == "").all()
    assert out.loc[~failed, "Approval_Probability"].between(0, 1).all()
    assert out.loc[~failed, "Loan_Status"].isin(["Y", "N"]).all()


def test_summary_counts(loaded_model):
    frame = factories.applications(10).astype(object)
    frame.loc[3, "Property_Area"] = "Mars"
    frame.loc[5, "Credit_History"] = "2"
    frame.loc[5, "Self_Employed"] = "maybe"
    scoring = score(to_csv(frame), loaded_model)
    out = results(scoring)
    summary = scoring.summary.to_dict()
    assert summary["rows"] == 10 and summary["scored"] == 8 and summary["failed"] == 2
    assert summary["approved"] == (out["Loan_Status"] == "Y").sum()
    assert summary["approval_rate"] == round(summary["approved"] / 8, 4)
    assert summary["failures_by_reason"] == {"Property_Area: not an allowed value": 1, "Self_Employed: not an allowed value": 1,
                                             "Credit_History: not 0 or 1": 1}
    assert sum(scoring.summary.probability_histogram) == 8
    assert sum(g["rows"] for g in summary["fairness"]["Property_Area"]["groups"].values()) == 8


def test_probabilities_match_the_pipeline(loaded_model):
    frame = factories.applications(20, seed=3)
    out = results(score(to_csv(frame), loaded_model))
    expected = loaded_model.pipeline.predict_proba(frame)[:, 1].round(4)
    assert out["Approval_Probability"].tolist() == pytest.approx(expected.tolist(), abs=1e-4)


def test_extra_columns_can_be_joined_to_the_output(loaded_model):
    frame = factories.applications(3)
    frame.insert(1, "Branch", ["North", "South", "=HYPERLINK()"])
    scoring = score(to_csv(frame), loaded_model, include_input=True)
    out = results(scoring)
    assert list(out.columns) == [*OUTPUT_COLUMNS, "Action", "Branch"] and out["Branch"].tolist()[:2] == ["North", "South"]
    assert scoring.summary.extra_columns == ["Branch"]


def test_all_or_nothing_on_request(loaded_model):
    frame = factories.applications(5).astype(object)
    frame.loc[2, "Property_Area"] = "Mars"
    with pytest.raises(RowsFailed) as caught:
        results(score(to_csv(frame), loaded_model, on_error="fail"))
    assert caught.value.details["failures"] == [{"row": 3, "error": "Property_Area: not one of Rural, Semiurban, Urban"}]


def test_whole_file_errors(loaded_model):
    with pytest.raises(MissingColumns):
        score(b"Loan_ID,Gender\nA,Male\n", loaded_model)
    header_only = to_csv(factories.applications(1)).split(b"\n")[0] + b"\n"
    with pytest.raises(EmptyInput, match="no rows"):
        results(score(header_only, loaded_model))
    with pytest.raises(InputTooLarge, match="more than 5 rows"):
        results(score(to_csv(factories.applications(9)), loaded_model, limits=Limits(max_rows=5, chunk_rows=2)))


def test_excel_and_json_score_like_csv(loaded_model):
    from tests.factories import xlsx_bytes

    frame = factories.applications(15, seed=4)
    from_csv = results(score(to_csv(frame), loaded_model))
    from_xlsx = results(score(xlsx_bytes(frame), loaded_model))
    from_json = results(score(frame.to_json(orient="records").encode(), loaded_model))
    pd.testing.assert_frame_equal(from_csv, from_xlsx)
    pd.testing.assert_frame_equal(from_csv, from_json)


def test_real_test_file_scores_completely(loaded_model, shared_data):
    scoring = score((shared_data / "loan_test.csv").read_bytes(), loaded_model)
    out = results(scoring)
    assert len(out) == 367 and scoring.summary.failed == 0
    original = pd.read_csv(io.BytesIO((shared_data / "loan_test.csv").read_bytes()), dtype=str)
    assert out["Loan_ID"].tolist() == original["Loan_ID"].tolist()


# --- fair lending: monitored-only attributes never change or block a decision ----------------------

MONITORED_ONLY = ("Gender", "Married", "Dependents")


class RecordingModel:
    """The model, keeping every unrounded probability it gives the core."""

    def __init__(self, model):
        self.model, self.probabilities = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def approval_probability(self, features):
        self.probabilities.append(self.model.approval_probability(features))
        return self.probabilities[-1]


def scored_with(model, frame: pd.DataFrame):
    recorder = RecordingModel(model)
    out = results(score(to_csv(frame), recorder, limits=Limits(chunk_rows=100)))
    return out, np.concatenate(recorder.probabilities)


@pytest.fixture(scope="module")
def shipped_model():
    from webapp.config import PROJECT_ROOT
    from webapp.model.loading import load_model

    return load_model(PROJECT_ROOT / "models" / "loan_pipeline.joblib")


@pytest.fixture(scope="module")
def real_test_file(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "loan_test.csv", dtype=str, keep_default_na=False)


@st.composite
def monitored_edits(draw):
    """For each monitored-only column: shuffled, blanked, invalid, dropped, random valid values, or kept."""
    return {column: draw(st.sampled_from(["swap", "blank", "invalid", "absent", "random", "keep"]))
            for column in MONITORED_ONLY}


def edit_monitored(frame: pd.DataFrame, edits: dict, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    for column, edit in edits.items():
        if edit == "swap":
            frame[column] = rng.permutation(frame[column].to_numpy())
        elif edit == "blank":
            frame[column] = ""
        elif edit == "invalid":
            frame[column] = rng.choice(["Robot", "=cmd|' /C calc'!A0", "7", "x" * 300], size=len(frame))
        elif edit == "absent":
            frame = frame.drop(columns=column)
        elif edit == "random":
            frame[column] = rng.choice(factories.CHOICES[column], size=len(frame))
    return frame


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=monitored_edits(), seed=st.integers(0, 10_000))
def test_monitored_attributes_never_change_a_probability(shipped_model, real_test_file, edits, seed):
    baseline, baseline_p = scored_with(shipped_model, real_test_file.drop(columns=list(MONITORED_ONLY)))
    edited, edited_p = scored_with(shipped_model, edit_monitored(real_test_file, edits, seed))
    assert np.array_equal(edited_p, baseline_p)  # unrounded, bit for bit
    pd.testing.assert_frame_equal(edited[list(OUTPUT_COLUMNS)], baseline[list(OUTPUT_COLUMNS)])


def test_unrecognised_monitored_values_are_counted_not_failed(loaded_model):
    frame = factories.applications(40, seed=5).astype(object)
    frame.loc[:4, "Gender"] = "Robot"
    scoring = score(to_csv(frame), loaded_model)
    out = results(scoring)
    assert (out["Error"] == "").all()
    groups = scoring.summary.to_dict()["fairness"]["Gender"]["groups"]
    assert groups["(not recognised)"]["rows"] == 5


def test_parity_is_reported_only_for_monitored_columns_present(loaded_model):
    frame = factories.applications(40, seed=5).drop(columns=["Gender", "Married"])
    scoring = score(to_csv(frame), loaded_model)
    results(scoring)
    assert set(scoring.summary.to_dict()["fairness"]) == {"Dependents", "Education", "Self_Employed", "Property_Area"}


# --- input columns never overwrite output columns ----------------------------------------------

OUTPUT_NAMES = ("Loan_Status", "Approval_Probability", "Error", "Reason_1", "Reason_2", "Reason_3", "Reason_4",
                "Reason_Codes")


@pytest.mark.parametrize("name", OUTPUT_NAMES)
def test_an_input_column_named_like_an_output_comes_back_renamed_beside_it(loaded_model, name):
    frame = factories.applications(12, seed=9).astype(object)
    frame.loc[0:3, "Credit_History"] = 0.0  # some declines, so reasons are written
    frame[name] = [f"mine-{i}" for i in range(12)]
    frame["input_" + name] = "already taken"
    out = results(score(to_csv(frame), loaded_model, include_input=True, explain="reasons"))
    assert out[f"input_{name}"].tolist() == [f"mine-{i}" for i in range(12)]
    assert out[f"input_input_{name}"].eq("already taken").all()
    assert out["Loan_Status"].isin(["Y", "N"]).all() and out["Approval_Probability"].between(0, 1).all()
    assert (out["Error"] == "").all()
    assert list(out.columns[:4]) == list(OUTPUT_COLUMNS)


def test_input_columns_named_like_the_json_explanations_never_stand_in_for_them(loaded_model):
    frame = factories.applications(12, seed=9).astype(object)
    frame.loc[0:3, "Credit_History"] = 0.0  # some declines, so reasons are stated
    frame["contributions"], frame["reasons"] = "given contributions", "given reasons"
    records = to_records(score(to_csv(frame), loaded_model, include_input=True, explain="contributions").chunks())
    assert all(record["input_contributions"] == "given contributions" for record in records)
    assert all(record["input_reasons"] == "given reasons" for record in records)
    assert all(isinstance(record["reasons"], list) for record in records)
    assert any(record["reasons"] for record in records)


def test_a_labelled_file_is_evaluated_and_its_outcome_never_replaces_the_prediction(loaded_model):
    frame = factories.applications(150, seed=2, labelled=True)
    frame.loc[0:4, "Loan_Status"] = ["yes", "no", "", "maybe", "1"]
    scoring = score(to_csv(frame), loaded_model, include_input=True)
    out = results(scoring)
    status_from_probability = np.where(out["Approval_Probability"] >= loaded_model.threshold, "Y", "N")
    assert (out["Loan_Status"] == status_from_probability).all()
    assert out["input_Loan_Status"].tolist() == frame["Loan_Status"].tolist()
    evaluation = scoring.summary.to_dict()["evaluation"]
    assert evaluation["rows"] == 148 and evaluation["unlabelled"] == 2


def test_drift_is_judged_on_every_file_with_enough_rows(loaded_model):
    frame = factories.applications(150, seed=2)
    scoring = score(to_csv(frame), loaded_model)
    results(scoring)
    drift = scoring.summary.to_dict()["drift"]
    assert drift["judged"] and set(drift["features"]) >= {"ApplicantIncome", "Credit_History", "Gender"}
    frame["LoanAmount"] *= 10
    scoring = score(to_csv(frame), loaded_model)
    results(scoring)
    assert scoring.summary.to_dict()["drift"]["flagged"] == ["LoanAmount"]


def test_the_real_test_file_does_not_drift_and_a_tenfold_income_does(shipped_model, real_test_file):
    scoring = score(to_csv(real_test_file), shipped_model)
    results(scoring)
    drift = scoring.summary.to_dict()["drift"]
    assert all(entry["psi"] < 0.1 for entry in drift["features"].values()), drift["features"]
    for column in ("ApplicantIncome", "CoapplicantIncome", "LoanAmount"):
        shifted = real_test_file.copy()
        shifted[column] = pd.to_numeric(shifted[column]) * 10
        scoring = score(to_csv(shifted), shipped_model)
        results(scoring)
        report = scoring.summary.to_dict()["drift"]
        assert report["features"][column]["psi"] > 2 and column in report["flagged"]


def test_every_row_has_an_action_and_explaining_does_not_change_it(loaded_model):
    """Issue 25: approve, decline or incomplete on every scored row (empty when it failed); a decline
    resting on missing inputs is told apart even when no explanation was asked for."""
    frame = factories.applications(200, seed=11).astype(object)
    frame.loc[::7, "Credit_History"] = ""
    frame.loc[::5, "LoanAmount"] = ""
    frame.loc[3, "Property_Area"] = "Mars"
    plain = results(score(to_csv(frame), loaded_model))
    explained = results(score(to_csv(frame), loaded_model, explain="reasons"))
    assert plain["Action"].tolist() == explained["Action"].tolist()
    assert set(plain["Action"]) <= {"approve", "decline", "incomplete", ""}
    assert plain.loc[3, "Action"] == "" and plain.loc[3, "Error"] != ""
    approved = plain["Loan_Status"] == "Y"
    assert (plain.loc[approved, "Action"] == "approve").all()
    assert plain.loc[plain["Loan_Status"] == "N", "Action"].isin(["decline", "incomplete"]).all()


def test_the_probability_histogram_counts_as_numpy_histogram_does():
    from webapp.core.scoring import HISTOGRAM_BINS, HISTOGRAM_EDGES, probability_counts

    edges = HISTOGRAM_EDGES
    probability = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, 1),
                                  np.random.default_rng(7).random(1000)]).clip(0, 1)
    expected, _ = np.histogram(probability, bins=HISTOGRAM_BINS, range=(0, 1))
    assert probability_counts(probability).tolist() == expected.tolist()
    assert probability_counts(np.empty(0)).tolist() == [0] * HISTOGRAM_BINS
