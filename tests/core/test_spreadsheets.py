"""Every spreadsheet people have: .xlsx, .xlsb, .xls and .ods, each written by another program,
read with the same guarantees; and the hostile ones refused before calamine can abort the process."""
import io
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

from tests import factories, hostile
from webapp.core.errors import EmptyInput, InputError, InputTooLarge, UnreadableInput, UnsupportedFormat
from webapp.core.limits import Limits
from webapp.core.reading import open_table
from webapp.core.scoring import score
from webapp.core.spreadsheets import EncryptedFile

WRITERS = {"xlsx": factories.xlsx_bytes, "xlsb": factories.xlsb_bytes, "xls": factories.xls_bytes,
           "ods": factories.ods_bytes}


def frame_with_numeric_ids(n=12):
    frame = factories.applications(n, seed=4).astype(object)
    frame["Loan_ID"] = [1001 + i for i in range(n)]  # numbers in the sheet, text in the answer
    return frame


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_each_format_is_detected_from_its_content_and_scored(loaded_model, kind):
    frame = frame_with_numeric_ids()
    scoring = score(WRITERS[kind](frame), loaded_model)
    out = pd.concat(list(scoring), ignore_index=True)
    assert scoring.table.format == kind
    assert out["Loan_ID"].tolist() == [str(1001 + i) for i in range(12)]  # 1001, not 1001.0
    assert (out["Error"] == "").all() and out["Loan_Status"].isin(["Y", "N"]).all()


@pytest.mark.parametrize("kind", ["xls", "ods"])
def test_the_sheet_parameter_is_honoured(kind):
    frame = factories.applications(5, seed=1)
    data = WRITERS[kind](frame, sheets={"Notes": pd.DataFrame({"not": ["a table"]}), "Loans": frame})
    table = open_table(data, sheet="loans")
    assert table.details["sheet"] == "Loans" and "Loan_ID" in table.columns
    with pytest.raises(InputError, match="No sheet named 'Missing'. Sheets: Notes, Loans"):
        open_table(data, sheet="Missing")


def test_a_corrupt_xls_is_a_clear_error():
    good = factories.xls_bytes(factories.applications(5))
    with pytest.raises((UnreadableInput, UnsupportedFormat), match="could not be read|not an Excel workbook"):
        list(open_table(good[:1536] + bytes(4096)).chunks())


def test_an_encrypted_office_file_says_so():
    encrypted = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500) + "EncryptedPackage".encode("utf-16-le") + bytes(100)
    with pytest.raises(EncryptedFile, match="password-protected"):
        open_table(encrypted)


def test_an_ods_repeat_bomb_is_refused_before_calamine_opens_it():
    bomb = factories.ods_with_content(
        '<table:table table:name="S"><table:table-row table:number-rows-repeated="30000">'
        '<table:table-cell table:number-columns-repeated="1000" office:value-type="string"><text:p>x</text:p>'
        "</table:table-cell></table:table-row></table:table>")
    assert len(bomb) < 1000
    with pytest.raises(InputTooLarge, match="30,000 rows × 1,000 columns"):
        open_table(bomb)


def test_empty_repeats_cost_nothing_as_libreoffice_writes_them():
    frame = factories.applications(3)
    data = factories.ods_bytes(frame)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        content = archive.read("content.xml").decode()
    padded = content.replace("</table:table>", '<table:table-row table:number-rows-repeated="1048000">'
                             '<table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            target.writestr(item, padded if item.filename == "content.xml" else source.read(item.filename))
    assert sum(len(c) for c in open_table(buffer.getvalue()).chunks()) == 3


def test_an_xlsb_far_cell_is_refused_before_calamine_opens_it():
    data = factories.xlsb_bytes(factories.applications(3), far_cell=(100_000, 300))
    with pytest.raises(InputTooLarge, match="100,001 rows × 301 columns"):
        open_table(data)


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_the_cell_and_column_limits_hold_for_every_format(kind):
    data = WRITERS[kind](factories.applications(30))
    with pytest.raises(InputTooLarge, match="used area"):
        open_table(data, limits=Limits(max_xlsx_cells=50))
    with pytest.raises(InputTooLarge, match="columns"):
        open_table(data, limits=Limits(max_columns=5))


@pytest.mark.parametrize("kind", ["xls", "ods", "xlsb"])
def test_a_spreadsheet_without_rows_is_empty(kind):
    with pytest.raises(EmptyInput):
        open_table(WRITERS[kind](pd.DataFrame({"": []})))


@pytest.mark.parametrize("kind", ["ods", "xlsb"])
def test_the_measured_process_killers_leave_the_process_alive(kind, tmp_path):
    """The files SECURITY.md measured aborting a worker (4 GB asked of calamine), read in a child
    process: it must answer with a refusal, not die."""
    if kind == "ods":
        data = factories.ods_with_content(
            '<table:table table:name="S"><table:table-row table:number-rows-repeated="90000">'
            '<table:table-cell table:number-columns-repeated="1000" office:value-type="string"><text:p>x</text:p>'
            "</table:table-cell></table:table-row></table:table>")
    else:
        data = factories.xlsb_bytes(factories.applications(3), far_cell=(1_048_000, 16_000))
    path = tmp_path / f"hostile.{kind}"
    path.write_bytes(data)
    code = ("import sys; from webapp.core.reading import open_table; from webapp.core.errors import InputTooLarge\n"
            "try:\n    open_table(open(sys.argv[1], 'rb'))\nexcept InputTooLarge:\n    print('refused')")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "refused", result.stderr[-2000:]


def test_every_sheet_of_an_xls_is_bounded_and_their_sum_too():
    one_sheet = hostile.far_cell_xls(sheets=1)  # 65,536 x 256: within the default per-sheet limit
    with pytest.raises(InputTooLarge, match="65,536 rows × 256 columns"):
        open_table(one_sheet, limits=Limits(max_xlsx_cells=1_000_000))
    with pytest.raises(InputTooLarge, match="sheets together span"):
        open_table(hostile.far_cell_xls(sheets=2))


def test_a_damaged_ole2_container_is_a_clear_error():
    good = factories.xls_bytes(factories.applications(5))
    with pytest.raises(InputError):
        open_table(good[:600] + bytes(len(good) - 600))


def test_an_overlong_shared_string_is_cut_where_it_is_stored():
    data = hostile.one_long_id_xlsx(rows=5, length=5_000)
    ids = pd.concat(list(open_table(data).chunks({0: "text"})))[0]
    assert ids.str.len().tolist() == [1_001] * 5
    short = hostile.one_long_id_xlsx(rows=5, length=50)  # within the limit: the workbook is read as sent
    assert pd.concat(list(open_table(short).chunks({0: "text"})))[0].tolist() == ["L" * 50] * 5


def test_a_reader_fault_never_quotes_the_cell_it_stumbled_on():
    """calamine's own message quotes the cell ("Unrecognized boolean cell value: 5849"): not passed on."""
    book = factories.xlsx_bytes(pd.DataFrame({"Loan_ID": ["LP1"], "ApplicantIncome": [1]}))
    source, out = zipfile.ZipFile(io.BytesIO(book)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<c r="B2" t="n"><v>1</v></c>', b'<c r="B2" t="b"><v>5849</v></c>')
                assert b"5849" in data
            target.writestr(item, data)
    with pytest.raises(UnreadableInput) as caught:
        list(open_table(out.getvalue()).chunks())
    assert "5849" not in caught.value.message and "could not be read" in caught.value.message
