"""A corpus of hostile and awkward inputs, built in code: (name, request kwargs, expected statuses)."""
from __future__ import annotations

import codecs
import io
import json
import os
import zipfile

from tests import factories
from tests.factories import xlsx_bytes

HEADER = "Loan_ID,Gender,Married,Dependents,Education,Self_Employed,ApplicantIncome,CoapplicantIncome," \
         "LoanAmount,Loan_Amount_Term,Credit_History,Property_Area"
ROW = "LP1,Male,Yes,0,Graduate,No,5720,0,110,360,1,Urban"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + "]>")


def upload(data: bytes, name: str = "file.csv") -> dict:
    return {"data": {"file": (io.BytesIO(data), name)}, "content_type": "multipart/form-data"}


def raw(data, content_type: str | None = "text/csv") -> dict:
    return {"data": data, "content_type": content_type} if content_type else {"data": data}


def csv_text(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def good_xlsx(rows: int = 3) -> bytes:
    return xlsx_bytes(factories.applications(rows))


def rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """A copy of an .xlsx with some parts replaced or added."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, (replace or {}).get(item.filename, source.read(item.filename)))
        for name, content in (add or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def zip_bomb_xlsx() -> bytes:
    """A workbook whose sheet inflates to 300 MB of blanks: about 300 KB on the wire."""
    book = good_xlsx()
    sheet = zipfile.ZipFile(io.BytesIO(book)).read("xl/worksheets/sheet1.xml")
    padded = sheet.replace(b"<sheetData>", b"<sheetData>" + b" " * (300 << 20), 1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        source = zipfile.ZipFile(io.BytesIO(book))
        for item in source.infolist():
            target.writestr(item.filename, padded if item.filename == "xl/worksheets/sheet1.xml" else source.read(item))
    return out.getvalue()


def far_cell_xlsx() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    for column, name in enumerate(HEADER.split(","), start=1):
        workbook.active.cell(1, column, name)
    workbook.active["XFD1048576"] = "x"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def laughs_in_workbook_xml() -> bytes:
    book = good_xlsx()
    workbook = zipfile.ZipFile(io.BytesIO(book)).read("xl/workbook.xml")
    body = workbook.split(b"?>", 1)[-1]
    return rezip(book, replace={"xl/workbook.xml": LAUGHS.encode() + body})


def laughs_in_sheet_xml() -> bytes:
    book = good_xlsx()
    sheet = zipfile.ZipFile(io.BytesIO(book)).read("xl/worksheets/sheet1.xml")
    body = sheet.split(b"?>", 1)[-1].replace(b"<v>", b"<v>&lol9;", 1)
    return rezip(book, replace={"xl/worksheets/sheet1.xml": LAUGHS.encode() + body})


def far_cell_xls(sheets: int = 8) -> bytes:
    """A legacy .xls of `sheets` sheets, each with one cell at IV65536: under 10 KB, 4.9 GB in calamine."""
    import xlwt

    workbook = xlwt.Workbook()
    for number in range(sheets):
        sheet = workbook.add_sheet(f"S{number}")
        for column, name in enumerate(HEADER.split(",")):
            sheet.write(0, column, name)
        sheet.write(65535, 255, "x")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


MEMORY_LIMIT = 3 << 30  # address space for a child: imports take about 1.6 GB, the amplifiers 5-9 GB


def run_with_memory_limit(code: str, data: bytes, tmp_path, *args: str, limit: int = MEMORY_LIMIT):
    """Run `code` in a child process whose address space is capped, with `sys.argv[1]` a file
    holding `data` (then `args`): a regression then fails one test instead of exhausting the machine."""
    import subprocess
    import sys

    path = tmp_path / "hostile.bin"
    path.write_bytes(data)
    preamble = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
    return subprocess.run([sys.executable, "-c", preamble + code, str(path), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def nested_json(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


RECORD = json.loads(factories.applications(1).to_json(orient="records"))[0]
OK, BAD_ROWS = {200}, {200}

CORPUS = [
    ("zip-bomb-xlsx", lambda: upload(zip_bomb_xlsx(), "bomb.xlsx"), {413}),
    ("far-away-cell-xlsx", lambda: upload(far_cell_xlsx(), "far.xlsx"), {413}),
    ("billion-laughs-workbook", lambda: upload(laughs_in_workbook_xml(), "lol.xlsx"), {400}),
    ("billion-laughs-sheet", lambda: upload(laughs_in_sheet_xml(), "lol.xlsx"), {400, 200}),
    ("truncated-xlsx", lambda: upload(good_xlsx()[:2000], "cut.xlsx"), {400}),
    ("zip-not-workbook", lambda: upload(_plain_zip(), "a.xlsx"), {415}),
    ("office-97-not-a-workbook", lambda: upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2000), "old.xls"), {415}),
    ("good-xls", lambda: upload(factories.xls_bytes(factories.applications(5)), "old.xls"), OK),
    ("good-ods", lambda: upload(factories.ods_bytes(factories.applications(5)), "calc.ods"), OK),
    ("good-xlsb", lambda: upload(factories.xlsb_bytes(factories.applications(5)), "binary.xlsb"), OK),
    ("good-parquet", lambda: upload(factories.parquet_bytes(factories.applications(5)), "part.parquet"), OK),
    ("corrupt-parquet", lambda: upload(factories.parquet_bytes(factories.applications(5))[:300] + b"PAR1",
                                       "cut.parquet"), {400}),
    ("corrupt-xls", lambda: upload(factories.xls_bytes(factories.applications(5))[:1536] + bytes(4096), "cut.xls"),
     {400, 415}),
    ("encrypted-office-file", lambda: upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)
                                             + "EncryptedPackage".encode("utf-16-le"), "locked.xlsx"), {400}),
    ("ods-repeat-bomb", lambda: upload(factories.ods_with_content(
        '<table:table table:name="S"><table:table-row table:number-rows-repeated="90000"><table:table-cell '
        'table:number-columns-repeated="1000" office:value-type="string"><text:p>x</text:p></table:table-cell>'
        "</table:table-row></table:table>"), "bomb.ods"), {413}),
    ("xls-far-cell-on-eight-sheets", lambda: upload(far_cell_xls(), "far.xls"), {413}),
    ("parquet-one-long-id-in-a-dictionary", lambda: upload(one_long_id_parquet(5_000), "ids.parquet"), BAD_ROWS),
    ("xlsx-one-long-shared-string-id", lambda: upload(one_long_id_xlsx(2_000), "ids.xlsx"), BAD_ROWS),
    ("xlsb-far-cell", lambda: upload(factories.xlsb_bytes(factories.applications(3), far_cell=(1_048_000, 16_000)),
                                     "far.xlsb"), {413}),
    ("png-renamed-csv", lambda: upload(b"\x89PNG\r\n\x1a\n" + os.urandom(3000), "photo.csv"), {415}),
    ("pdf-renamed-csv", lambda: upload(b"%PDF-1.7\n" + os.urandom(3000), "doc.csv"), {415}),
    ("gzip-renamed-csv", lambda: upload(b"\x1f\x8b\x08\x00" + os.urandom(3000), "data.csv"), {415}),
    ("elf-binary", lambda: upload(b"\x7fELF" + os.urandom(3000), "run.csv"), {415}),
    ("random-binary-junk", lambda: upload(bytes(range(256)) * 40, "junk.csv"), {415}),
    ("nul-bytes-in-text", lambda: upload(csv_text(ROW.replace("LP1", "LP\x001")), "nul.csv"), {415}),
    ("utf16-csv", lambda: upload(csv_text(ROW).decode().encode("utf-16"), "u16.csv"), OK),
    ("utf16-csv-lone-surrogate", lambda: upload(csv_text(ROW).decode().encode("utf-16-le").join(
        [codecs.BOM_UTF16_LE, b"\x00\xd8"]), "u16.csv"), {400}),
    ("utf16-csv-odd-last-byte", lambda: upload(csv_text(ROW).decode().encode("utf-16") + b"A", "u16.csv"), {400}),
    ("utf32-csv-past-unicode", lambda: upload(csv_text(ROW).decode().encode("utf-32") + b"\x00\x00\x11\x00",
                                              "u32.csv"), {400}),
    ("utf16-json-lone-surrogate", lambda: raw(json.dumps([RECORD]).encode("utf-16-le").join(
        [codecs.BOM_UTF16_LE, b"\x00\xd8"]), "application/json"), {400}),
    ("latin1-csv", lambda: upload(csv_text(ROW.replace("LP1", "José")).decode().encode("latin-1"), "l1.csv"), OK),
    ("utf8-bom-csv", lambda: upload(b"\xef\xbb\xbf" + csv_text(ROW), "bom.csv"), OK),
    ("five-mb-single-field", lambda: upload(csv_text(ROW.replace("Graduate", "M" * (5 << 20), 1)), "big.csv"), BAD_ROWS),
    ("twenty-thousand-columns", lambda: upload((",".join(f"c{i}" for i in range(20_000)) + "\n1\n").encode()), {413}),
    ("header-line-over-1mb", lambda: upload(b"a" * (2 << 20)), {413}),
    ("duplicate-headers", lambda: upload(csv_text(ROW + ",Male", header=HEADER + ",gender")), {422}),
    ("missing-columns", lambda: upload(b"Loan_ID,Gender\nA,Male\n"), {422}),
    ("formula-injection", lambda: upload(csv_text(ROW.replace("LP1", "=cmd|' /C calc'!A0"),
                                                  ROW.replace("LP1", "@SUM(1+1)"))), OK),
    ("extra-field-first-row", lambda: upload(csv_text(ROW + ",surplus")), {400}),
    ("extra-field-later-row", lambda: upload(csv_text(ROW, ROW + ",surplus")), {400}),
    ("quoted-newlines", lambda: upload(csv_text('"LP\n1",Male,Yes,0,"Not\nGraduate",No,1,0,1,360,1,Urban')), BAD_ROWS),
    ("infinite-and-huge-numbers", lambda: upload(csv_text(ROW.replace("5720", "1e309"), ROW.replace("110", "1e308"))), BAD_ROWS),
    ("na-strings-as-ids", lambda: upload(csv_text(ROW.replace("LP1", "NA"), ROW.replace("LP1", "null"))), OK),
    ("empty-file", lambda: upload(b""), {400}),
    ("whitespace-only", lambda: upload(b"   \n\n\t\n"), {400}),
    ("header-only", lambda: upload(csv_text()), {400}),
    ("semicolons-and-decimal-commas", lambda: upload(csv_text(ROW.replace(",", ";").replace("5720", "5720,5"),
                                                              header=HEADER.replace(",", ";"))), BAD_ROWS),
    ("deeply-nested-json", lambda: raw(nested_json(100_000), "application/json"), {400}),
    ("json-nan-literal", lambda: raw(b'[{"Loan_ID": "A", "LoanAmount": NaN}]', "application/json"), {400}),
    ("json-duplicate-keys", lambda: raw(b'[{"Loan_ID": "A", "Loan_ID": "B"}]', "application/json"), {400}),
    ("json-nested-values", lambda: raw(json.dumps([{**RECORD, "Gender": {"x": [1]}, "LoanAmount": [1, 2]}]),
                                       "application/json"), BAD_ROWS),
    ("json-310-digit-number", lambda: raw(json.dumps([RECORD, {**RECORD, "LoanAmount": 10 ** 310}]),
                                          "application/json"), BAD_ROWS),
    ("json-scalar", lambda: raw(b"42", "application/json"), {400}),
    ("json-broken", lambda: raw(b'[{"Loan_ID": ', "application/json"), {400}),
    ("missing-content-type", lambda: raw(b"Loan_ID\nA\n", None), {415}),
    ("unsupported-content-type", lambda: raw(b"<a/>", "application/xml"), {415}),
    ("multipart-without-file", lambda: {"data": {"other": (io.BytesIO(b"x"), "x.csv")},
                                        "content_type": "multipart/form-data"}, {400}),
    ("json-in-csv-clothing", lambda: raw(json.dumps([RECORD]), "text/csv"), OK),
]


def _plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return out.getvalue()


def one_long_id_parquet(rows: int = 200_000, length: int = 20_000) -> bytes:
    """Every Loan_ID is one `length`-character string, stored once in a dictionary page: tens of KB
    on disk, rows x length characters once read row by row."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = dict(zip(HEADER.split(","), ROW.split(",")))
    zeros = pa.array(np.zeros(rows, dtype=np.int32))
    columns = {"Loan_ID": pa.DictionaryArray.from_arrays(zeros, pa.array(["L" * length]))}
    for name, value in list(row.items())[1:]:
        columns[name] = pa.DictionaryArray.from_arrays(zeros, pa.array([value]))
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="zstd", store_schema=False)  # read as plain text
    return buffer.getvalue()


def one_long_id_xlsx(rows: int = 100_000, length: int = 20_000) -> bytes:
    """Every Loan_ID cell points at one `length`-character shared string: a few MB on the wire."""
    import re

    book = good_xlsx(1)
    sheet = zipfile.ZipFile(io.BytesIO(book)).read("xl/worksheets/sheet1.xml").decode()
    header, first = re.findall(r"<row r=\"[12]\">(.*?)</row>", sheet)
    rest = first.split("</c>", 1)[1].replace('2"', '{r}"')  # the other cells of row 2, for every row
    body = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>0</v></c>' + rest.format(r=r) + "</row>"
                   for r in range(2, rows + 2))
    sheet = re.sub(r"<sheetData>.*</sheetData>", lambda _: f'<sheetData><row r="1">{header}</row>{body}</sheetData>',
                   sheet).replace('ref="A1:L2"', f'ref="A1:L{rows + 1}"')
    strings = ('<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
               f"<si><t>{'L' * length}</t></si></sst>")
    parts = zipfile.ZipFile(io.BytesIO(book))
    rels = parts.read("xl/_rels/workbook.xml.rels").decode().replace(
        "</Relationships>", '<Relationship Id="rIdS" Target="sharedStrings.xml" Type="http://schemas.openxmlformats.org'
                            '/officeDocument/2006/relationships/sharedStrings"/></Relationships>')
    types = parts.read("[Content_Types].xml").decode().replace(
        "</Types>", '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocu'
                    'ment.spreadsheetml.sharedStrings+xml"/></Types>')
    return rezip(book, replace={"xl/worksheets/sheet1.xml": sheet.encode(), "xl/_rels/workbook.xml.rels": rels.encode(),
                                "[Content_Types].xml": types.encode()},
                 add={"xl/sharedStrings.xml": strings.encode()})
