import io

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.test_small_inputs import as_csv
from tests.strategies import application
from webapp.core.errors import ContractViolation, InputError
from webapp.core.writing import neutralise_formulas, to_records, write_csv, write_xlsx


def result_frame():
    return pd.DataFrame({"Loan_ID": ["=cmd|' /C calc'!A0", "@SUM(A1)", "LP1", "-2+3", "\tx", "+1"],
                         "Loan_Status": ["", "Y", "N", "Y", "Y", "Y"],
                         "Approval_Probability": [float("nan"), 0.91234, 0.1, 0.5, 0.5, 0.5],
                         "Error": ["Gender: not one of Female, Male", "", "", "", "", ""]})


@pytest.mark.parametrize(("cell", "safe"), [("=1+1", "'=1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("+1", "'+1"),
                                            ("-2", "'-2"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("LP1", "LP1")])
def test_formula_cells_are_neutralised(cell, safe):
    assert neutralise_formulas(pd.DataFrame({"a": [cell]}))["a"][0] == safe


def test_csv_output_is_utf8_with_4_decimals_and_no_formulas():
    out = io.BytesIO()
    write_csv([result_frame()], out)
    back = pd.read_csv(io.BytesIO(out.getvalue()), dtype=str, keep_default_na=False)
    assert back["Loan_ID"].tolist()[:3] == ["'=cmd|' /C calc'!A0", "'@SUM(A1)", "LP1"]
    assert back["Approval_Probability"].tolist()[:2] == ["", "0.9123"]


def test_excel_output_has_no_formulas():
    out = io.BytesIO()
    write_xlsx([result_frame()], out)
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
    rows = list(sheet.values)
    assert rows[0] == ("Loan_ID", "Loan_Status", "Approval_Probability", "Error")
    assert rows[1][0] == "'=cmd|' /C calc'!A0" and rows[1][2] is None
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_records_use_none_for_absent_values():
    records = to_records([result_frame()])
    assert records[0]["Loan_Status"] is None and records[0]["Approval_Probability"] is None
    assert records[1] == {"Loan_ID": "@SUM(A1)", "Loan_Status": "Y", "Approval_Probability": 0.91234, "Error": None}


def test_excel_refuses_what_a_sheet_cannot_store_rather_than_change_it():
    frame = pd.DataFrame({"Loan_ID": ["ok", "\x14bad"], "Loan_Status": ["Y", "N"],
                          "Approval_Probability": [0.9, 0.1], "Error": ["", ""]})
    with pytest.raises(ContractViolation, match="Row 2 holds a control character"):
        write_xlsx([frame], io.BytesIO())


@pytest.mark.parametrize("values", [["", "Y", "N", ""], ["Y", "N"], [""], ["N", None, ""]])
def test_empty_categories_are_removed_as_pandas_removes_them(values):
    from webapp.core.results import without_empty_category as _without_empty

    for categories in (["", "N", "Y"], ["N", "Y"], ["N", "", "Y"]):
        given = pd.Categorical([v for v in values if v is None or v in categories], categories=categories)
        expected = given.remove_categories([""]) if "" in categories else given
        removed = _without_empty(given)
        assert list(removed.categories) == list(expected.categories)
        assert removed.codes.tolist() == expected.codes.tolist() and removed.codes.dtype == expected.codes.dtype


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="=+-@\t\r aé漢LP0", max_size=5)), min_size=1, max_size=30),
       st.integers(0, 4))
def test_formula_cells_are_found_off_their_first_byte_as_startswith_finds_them(cells, start):
    from webapp.core.writing import _FORMULA_START, _starting_a_formula

    for dtype in ("string[pyarrow]", object):
        column = pd.Series(cells, dtype=dtype).iloc[min(start, len(cells) - 1):]  # a slice: offset buffers
        expected = column.str.startswith(_FORMULA_START).fillna(False).to_numpy(dtype=bool)
        assert _starting_a_formula(column).tolist() == expected.tolist()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.lists(application(), min_size=1, max_size=120), explain=st.booleans(), risky_ids=st.booleans())
def test_csv_answers_written_from_the_scored_columns_are_the_bytes_the_frame_path_writes(
        loaded_model, records, explain, risky_ids):
    from webapp.core import writing
    from webapp.service import ScoringOptions, score_input

    if risky_ids:
        records = [{**record, "Loan_ID": f"=HYPERLINK({i})"} if i % 3 == 0 else record
                   for i, record in enumerate(records)]
    body, options = as_csv(records), ScoringOptions(format="csv", explain=explain)

    def answer():
        try:
            with score_input(body, loaded_model, options).file as file:
                return file.read()
        except InputError as error:
            return str(error)

    direct = answer()
    with pytest.MonkeyPatch.context() as frames_only:
        frames_only.setattr(writing, "_csv_columns", lambda chunk: None)
        assert answer() == direct
