"""Readers: real files in every supported shape, and clear errors for everything else."""
import io
import json
import zipfile

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.factories import xlsx_bytes
from webapp.core.errors import EmptyInput, InputError, InputTooLarge, UnreadableInput, UnsupportedFormat
from webapp.core.limits import Limits
from webapp.core.reading import open_table, parse_records

HEADER = "Loan_ID,Gender,Married,Dependents,Education,Self_Employed,ApplicantIncome,CoapplicantIncome," \
         "LoanAmount,Loan_Amount_Term,Credit_History,Property_Area"
ROW = "LP1,Male,Yes,0,Graduate,No,5720,0,110,360,1,Urban"


def rows_of(table):
    return pd.concat(list(table.chunks()), ignore_index=True)


def csv_bytes(sep=",", encoding="utf-8", newline="\n", rows=(ROW,)):
    text = newline.join([HEADER.replace(",", sep), *(r.replace(",", sep) for r in rows)]) + newline
    return text.encode(encoding)


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_csv_delimiters_are_detected(sep):
    table = open_table(csv_bytes(sep=sep))
    assert table.details["delimiter"] == sep and table.columns[0] == "Loan_ID" and len(table.columns) == 12


@pytest.mark.parametrize(("encoding", "detected"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"), ("cp1252", "cp1252"),
])
def test_csv_encodings_are_detected(encoding, detected):
    data = csv_bytes(encoding=encoding, rows=("LP1,Male,Yes,0,Graduate,No,5720,0,110,360,1,Urban", "José€,,,,,,,,,,,"))
    table = open_table(data)
    assert table.details["encoding"] == detected
    assert rows_of(table)[0].tolist() == ["LP1", "José€"]


def test_old_mac_line_ends():
    data = (HEADER + "\r" + ROW + "\r" + ROW.replace("LP1", "LP2") + "\r").encode()
    assert rows_of(open_table(data))[0].tolist() == ["LP1", "LP2"]


def test_crlf_and_quoted_newlines():
    data = (HEADER + "\r\n" + '"LP\r\n1",Male,Yes,0,"Not Graduate",No,5720,0,110,360,1,Urban\r\n').encode()
    assert rows_of(open_table(data))[0].tolist() == ["LP\r\n1"]


def test_ids_stay_text():
    data = csv_bytes(rows=("007,Male,Yes,0,Graduate,No,1,0,1,360,1,Urban", "NA,Male,Yes,0,Graduate,No,1,0,1,360,1,Urban"))
    assert rows_of(open_table(data))[0].tolist() == ["007", "NA"]


def test_real_test_file_with_crlf(shared_data):
    table = open_table((shared_data / "loan_test.csv").read_bytes())
    assert len(rows_of(table)) == 367


def test_chunks_split_large_files():
    rows = [f"LP{i},Male,Yes,0,Graduate,No,1,0,1,360,1,Urban" for i in range(25)]
    chunks = list(open_table(csv_bytes(rows=rows), limits=Limits(chunk_rows=10)).chunks())
    assert [len(c) for c in chunks] == [10, 10, 5]


@pytest.mark.parametrize(("data", "error", "message"), [
    (b"", EmptyInput, "empty"),
    (b"  \n\n", EmptyInput, "empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), UnsupportedFormat, "PNG image"),
    (b"%PDF-1.7\n", UnsupportedFormat, "PDF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), UnsupportedFormat, "not an Excel workbook"),
    (b"Loan_ID,Gender\nA\x00B,Male\n", UnsupportedFormat, "NUL bytes"),
    ((HEADER + "\n" + ROW + ",extra\n").encode(), UnreadableInput, "more fields than the header"),
    ((HEADER + "\n" + ROW + "\n" + ROW + ",extra\n").encode(), UnreadableInput, "Line 3 has 13 fields"),
])
def test_whole_file_problems_are_input_errors(data, error, message):
    with pytest.raises(error, match=message):
        rows_of(open_table(data))


def test_too_many_columns_refused_before_parsing():
    header = ",".join(f"c{i}" for i in range(20_000))
    with pytest.raises(InputTooLarge, match="20,000 columns"):
        open_table(f"{header}\n".encode())


def test_a_zip_that_is_not_a_workbook():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(UnsupportedFormat, match="not a spreadsheet"):
        open_table(buffer.getvalue())


# --- Excel ----------------------------------------------------------------------------------------



def test_xlsx_first_sheet_read_with_calamine():
    frame = factories.applications(30)
    table = open_table(xlsx_bytes(frame))
    assert table.format == "xlsx" and table.columns == list(frame.columns)
    assert len(rows_of(table)) == 30


def test_xlsx_named_sheet_and_hidden_first_sheet():
    frame = factories.applications(5)
    data = xlsx_bytes(frame, sheets={"Applications": frame.head(2), "March": frame}, hidden_first=True)
    assert open_table(data).details["sheet"] == "Applications"
    assert len(rows_of(open_table(data, sheet="march"))) == 5
    with pytest.raises(InputError, match="No sheet named 'April'. Sheets: Notes, Applications, March"):
        open_table(data, sheet="April")


def test_xlsx_numeric_ids_read_as_text():
    frame = factories.applications(2)
    frame["Loan_ID"] = [1001, 1002]
    table = open_table(xlsx_bytes(frame))
    assert list(table.chunks({0: "text"}))[0][0].tolist() == ["1001", "1002"]


def test_xlsx_with_a_far_away_cell_is_refused_before_calamine_allocates_it():
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "Loan_ID"
    workbook.active["GR1048576"] = "x"
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(InputTooLarge, match="used area is 1,048,576 rows × 200 columns"):
        open_table(buffer.getvalue())


# --- JSON -----------------------------------------------------------------------------------------

RECORD = {"Loan_ID": "LP1", "Gender": "Male", "Married": "Yes", "Dependents": "0", "Education": "Graduate",
          "Self_Employed": "No", "ApplicantIncome": 5720, "CoapplicantIncome": 0, "LoanAmount": 110,
          "Loan_Amount_Term": 360, "Credit_History": 1, "Property_Area": "Urban"}


@pytest.mark.parametrize("payload", [
    [RECORD, RECORD],
    {"records": [RECORD, RECORD]},
    {"dataframe_records": [RECORD, RECORD]},
    {"dataframe_split": {"columns": list(RECORD), "data": [list(RECORD.values())] * 2}},
    json.dumps([RECORD, RECORD]),  # the tutorial client's double-encoded df.to_json(orient="records")
], ids=["list", "records", "dataframe_records", "dataframe_split", "json-string"])
def test_json_shapes(payload):
    records, columns = parse_records(json.dumps(payload))
    assert len(records) == 2 and columns == list(RECORD)


def test_single_json_object_is_one_record():
    records, _ = parse_records(json.dumps(RECORD))
    assert records == [RECORD]


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", "Expected JSON records"),
    ("[]", "no records"),
    ('{"a": NaN}', "NaN is not valid JSON"),
    ('{"a": 1, "a": 2}', "repeats the key"),
    ("[" * 100_000 + "]" * 100_000, "nested 100000 levels"),
    ('[{"a": 1}', "not valid JSON"),
    ('[{"Loan_ID": "\\ud800"}]', "half of a character"),  # valid JSON grammar, no text: every writer would fail
    ('[{"\\udfff": 1}]', "half of a character"),
    ('"[{\\"Loan_ID\\": \\"\\\\udc00\\"}]"', "half of a character"),  # double-encoded
])
def test_bad_json(text, message):
    with pytest.raises(InputError, match=message):
        parse_records(text)


def test_a_character_written_as_its_pair_of_escapes_is_read_as_itself():
    records, _ = parse_records('[{"Loan_ID": "LP\\ud83d\\ude00", "note": "\\\\ud800 is text here"}]')
    assert records == [{"Loan_ID": "LP\U0001F600", "note": "\\ud800 is text here"}]


def test_json_detected_by_content():
    table = open_table(json.dumps([RECORD]).encode())
    assert table.format == "json" and table.columns == list(RECORD)


# --- the pyarrow fast path must answer exactly as the pandas reader ------------------------------

AWKWARD = {
    "Loan_ID": ["LP1", "007", "NA", "", " spaced ", "=cmd", '"quoted, comma"', '"multi\nline"', "José"],
    "Gender": ["Male", "female", "", "NA", " MALE ", "Robot", '"Male"'],
    "Dependents": ["0", "3", "3+", "", "7"],
    "ApplicantIncome": ["5720", "0", "", "-5", "abc", "1e309", " 12 ", "NA", "4.5", "+3"],
    "Credit_History": ["1", "0", "", "2", "1.0"],
}


@st.composite
def awkward_csv(draw):
    header = HEADER.split(",")
    lines = [HEADER]
    for _ in range(draw(st.integers(1, 25))):
        cells = [draw(st.sampled_from(AWKWARD.get(name, ROW.split(",")[i:i + 1])))
                 for i, name in enumerate(header)]
        if draw(st.integers(0, 30)) == 0:
            cells.append("surplus")  # a ragged row: both readers must refuse it alike
        lines.append(",".join(cells))
        if draw(st.integers(0, 10)) == 0:
            lines.append("")  # blank lines are no rows
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return (newline.join(lines) + draw(st.sampled_from(["", newline]))).encode(), draw(st.integers(1, 10))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(awkward_csv())
def test_fast_reader_answers_exactly_as_the_reference_reader(loaded_model, monkeypatch, case):
    import webapp.core.reading as reading
    from webapp.core.scoring import score
    from webapp.core.writing import write_csv

    data, chunk_rows = case

    def answer():
        out = io.BytesIO()
        try:
            write_csv(score(data, loaded_model, limits=Limits(chunk_rows=chunk_rows)), out)
        except InputError as error:
            return f"{type(error).__name__}: {error.message}"
        return out.getvalue()

    fast = answer()
    with monkeypatch.context() as patched:
        patched.setattr(reading, "_arrow_csv_chunks", lambda *args: args[-1])  # the reference reader only
        reference = answer()
    assert fast == reference


def test_dataframe_split_refuses_repeated_columns():
    from webapp.core.errors import DuplicateColumns

    body = json.dumps({"dataframe_split": {"columns": ["Loan_ID", "Gender", "Gender"], "data": [["A", "Male", "x"]]}})
    with pytest.raises(DuplicateColumns, match="repeats 'Gender'"):
        parse_records(body)


@pytest.mark.parametrize("text", ["[]", "{}", '[{"a": [1, [2]]}]', '{"x": "[[[["}', "]]][[", "", "[[]]" * 3])
def test_json_depth_is_counted_the_same_for_short_and_long_bodies(text):
    from webapp.core.reading import SMALL_JSON_CHARACTERS, _max_depth

    assert _max_depth(text) == _max_depth(text + " " * SMALL_JSON_CHARACTERS)
