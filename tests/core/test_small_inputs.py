"""A few records take the small-input path (each value checked in Python, the record's columns built
from lists); everything else the general one (pandas and Arrow column operations). The two must
answer exactly alike: every probability bit, status, reason, error, summary figure and recorded
value, for valid and invalid records, one to a few hundred per request."""
from __future__ import annotations

import contextlib
import csv
import io
import json

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.core import reading, table, validation
from webapp.core.contract import FEATURES, cell_text
from webapp.core.errors import InputError
from webapp.service import ScoringOptions, score_input
from webapp.records import archive
from webapp.records.archive import normalise
from webapp.service import recording
from webapp.stats import drift, fairness

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


class Kept:
    """A recorder that keeps the record's rows (`decision_rows`, normalised as the real one stores them)."""

    batch_id = "test"

    def __init__(self):
        self.tables = []

    def open(self, input_format):
        return self

    def add(self, chunk):
        if len(chunk) <= table.SMALL_ROWS:  # the lists the record keeps are its table's own values
            few = recording.few_decision_rows(chunk)
            rows = few.to_table()
            assert few.values == rows.to_pydict()
            assert normalise(rows).equals(rows)  # already in the stored types: the recorder does not normalise them
            assert archive.read(None, archive.few_to_json(few)).equals(rows)  # kept as JSON, read back the same
        self.tables.append(normalise(recording.decision_rows(chunk)))

    def complete(self, report):
        pass

    def fail(self, reason):
        pass


# Every switch between a small-input branch and the general one, with the value that forces each.
SWITCHES = ((table, "SMALL_ROWS"), (fairness, "FEW_VALUES"), (drift, "FEW_VALUES"), (reading, "SMALL_JSON_CHARACTERS"))


@contextlib.contextmanager
def small_rows(limit: int):
    """Up to `limit` rows small everywhere (0: the general path everywhere)."""
    saved = [getattr(module, name) for module, name in SWITCHES]
    for module, name in SWITCHES:
        setattr(module, name, limit if name != "SMALL_JSON_CHARACTERS" else (10 ** 9 if limit else 0))
    try:
        yield
    finally:
        for (module, name), value in zip(SWITCHES, saved):
            setattr(module, name, value)


def answered(model, body: bytes, options: ScoringOptions, limit: int):
    """The answer's bytes and the recorded rows, or the whole-input error, with paths up to `limit` rows small."""
    kept = Kept()
    with small_rows(limit):
        try:
            answer = score_input(body, model, options, json_hint=body[:1] == b"[", recorder=kept)
        except InputError as error:
            return type(error), str(error)
    with answer.file:
        return answer.file.read(), pa.concat_tables(kept.tables)


def as_csv(records: list[dict]) -> bytes:
    """The same applications as a CSV file (every value as its text; a missing one empty)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for r in records for k in r)))
    writer.writeheader()
    writer.writerows({k: "" if v is None else json.dumps(v) if isinstance(v, list | dict) else v
                      for k, v in r.items()} for r in records)
    return out.getvalue().encode()


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


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=request_records(), explain=st.booleans(),
       fmt=st.sampled_from(["json", "csv", "parquet"]), sent_as=st.sampled_from(["json", "csv"]),
       include_input=st.booleans(), on_error=st.sampled_from(["continue", "continue", "fail"]))
def test_a_few_records_are_answered_and_recorded_exactly_as_by_the_general_path(loaded_model, records, explain, fmt,
                                                                                sent_as, include_input, on_error):
    body = json.dumps(records).encode() if sent_as == "json" else as_csv(records)
    options = ScoringOptions(format=fmt, explain=explain, reasons_for="all" if explain else "declined",
                             include_input=include_input, on_error=on_error)
    small = answered(loaded_model, body, options, limit=1_000)
    general = answered(loaded_model, body, options, limit=0)
    assert small[0] == general[0]
    if isinstance(small[1], pa.Table):
        assert small[1].equals(general[1], check_metadata=True)
    else:
        assert small == general


def test_one_record_takes_the_small_path(loaded_model, monkeypatch):
    taken = []
    monkeypatch.setattr(validation, "_factorize_small", lambda values, real=validation._factorize_small:
                        taken.append(len(values)) or real(values))
    record = {"Loan_ID": "LP1", "Education": "Graduate", "Self_Employed": "No", "ApplicantIncome": 5720,
              "CoapplicantIncome": 0, "LoanAmount": 110, "Loan_Amount_Term": 360, "Credit_History": 1,
              "Property_Area": "Urban", "Gender": "Male"}
    score_input(json.dumps([record]).encode(), loaded_model, ScoringOptions(format="json"), json_hint=True).file.close()
    assert taken and set(taken) == {1}


@pytest.mark.parametrize("dependents", [[0, "3+"], ["1", 2], [True, "0"]])
def test_a_monitored_column_mixing_numbers_and_text_is_recorded_as_text(loaded_model, dependents):
    records = [{"Loan_ID": f"LP{i}", "Education": "Graduate", "Self_Employed": "No", "ApplicantIncome": 5720,
                "CoapplicantIncome": 0, "LoanAmount": 110, "Loan_Amount_Term": 360, "Credit_History": 1,
                "Property_Area": "Urban", "Dependents": value} for i, value in enumerate(dependents)]
    for limit in (0, 1_000):
        _, table = answered(loaded_model, json.dumps(records).encode(), ScoringOptions(format="json"), limit)
        assert table["input.Dependents"].type == pa.string()
        assert table["input.Dependents"].to_pylist() == [cell_text(v) for v in dependents]
