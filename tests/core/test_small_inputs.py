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

from tests.strategies import request_records
from webapp.core import reading, table, validation
from webapp.core.contract import cell_text
from webapp.core.errors import InputError
from webapp.core.limits import Limits
from webapp.service import ScoringOptions, score_input
from webapp.records import archive
from webapp.records.archive import normalise
from webapp.service import recording
from webapp.stats import drift, fairness

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


def answered(model, body: bytes, options: ScoringOptions, limit: int, chunk_rows: int = Limits.chunk_rows):
    """The answer's bytes and the recorded rows, or the whole-input error, with paths up to `limit`
    rows small and the input read in chunks of `chunk_rows`."""
    kept = Kept()
    with small_rows(limit):
        try:
            answer = score_input(body, model, options, json_hint=body[:1] == b"[", recorder=kept,
                                 limits=Limits(chunk_rows=chunk_rows))
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



def as_xlsx(records: list[dict]) -> bytes:
    """The same applications as a workbook (lists and mappings as their JSON text; a missing value
    empty; the control characters a worksheet cannot hold left out)."""
    import pandas as pd
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from tests.factories import xlsx_bytes

    def cell(value):
        value = json.dumps(value) if isinstance(value, list | dict) else value
        return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

    cells = [{k: cell(v) for k, v in r.items()} for r in records]
    return xlsx_bytes(pd.DataFrame(cells, columns=list(dict.fromkeys(k for r in records for k in r)), dtype=object))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=request_records(), explain=st.booleans(), reasons_for=st.sampled_from(["declined", "all"]),
       fmt=st.sampled_from(["json", "csv", "parquet"]), sent_as=st.sampled_from(["json", "csv", "csv", "xlsx"]),
       include_input=st.booleans(), on_error=st.sampled_from(["continue", "continue", "fail"]),
       small_limit=st.sampled_from([1_000, table.SMALL_ROWS]), chunk_rows=st.sampled_from([Limits.chunk_rows, 70, 9]))
def test_a_few_records_are_answered_and_recorded_exactly_as_by_the_general_path(loaded_model, records, explain,
                                                                                reasons_for, fmt, sent_as,
                                                                                include_input, on_error,
                                                                                small_limit, chunk_rows):
    """Also an input read in chunks, so a general chunk can be followed by a small last one, and
    spreadsheets, whose cells come as Python objects."""
    body = {"json": lambda: json.dumps(records).encode(), "csv": lambda: as_csv(records),
            "xlsx": lambda: as_xlsx(records)}[sent_as]()
    options = ScoringOptions(format=fmt, explain=explain, reasons_for=reasons_for,
                             include_input=include_input, on_error=on_error)
    small = answered(loaded_model, body, options, limit=small_limit, chunk_rows=chunk_rows)
    general = answered(loaded_model, body, options, limit=0, chunk_rows=chunk_rows)
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
