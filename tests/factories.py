"""Small loan data built in code, so the tests run without ../shared."""
from __future__ import annotations

import io

import numpy as np
import openpyxl
import pandas as pd

CHOICES = {
    "Gender": ["Male", "Female"],
    "Married": ["Yes", "No"],
    "Dependents": ["0", "1", "2", "3+"],
    "Education": ["Graduate", "Not Graduate"],
    "Self_Employed": ["No", "Yes"],
    "Property_Area": ["Urban", "Semiurban", "Rural"],
}


def applications(n: int = 40, *, seed: int = 0, labelled: bool = False, id_prefix: str = "T") -> pd.DataFrame:
    """`n` plausible applications with a few empty cells, as `read_csv` would give them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"Loan_ID": [f"{id_prefix}{i:06d}" for i in range(n)]})
    for column, values in CHOICES.items():
        frame[column] = rng.choice(values, size=n)
    frame["ApplicantIncome"] = rng.integers(1000, 20000, size=n)
    frame["CoapplicantIncome"] = rng.choice([0, 0, 1500, 2500], size=n).astype(float)
    frame["LoanAmount"] = rng.integers(30, 400, size=n).astype(float)
    frame["Loan_Amount_Term"] = rng.choice([360.0, 180.0, 480.0], size=n)
    frame["Credit_History"] = rng.choice([1.0, 1.0, 1.0, 0.0], size=n)
    # A few gaps, as in the real data: the pipeline imputes them.
    for column in ("Gender", "Self_Employed", "LoanAmount", "Credit_History"):
        frame.loc[rng.random(n) < 0.05, column] = np.nan
    frame = frame[["Loan_ID", "Gender", "Married", "Dependents", "Education", "Self_Employed", "ApplicantIncome",
                   "CoapplicantIncome", "LoanAmount", "Loan_Amount_Term", "Credit_History", "Property_Area"]]
    if labelled:
        approve = (frame["Credit_History"].fillna(1) == 1) & (rng.random(n) < 0.85)
        frame["Loan_Status"] = np.where(approve, "Y", "N")
    return frame


def xlsx_bytes(frame: pd.DataFrame, *, sheets=None, hidden_first=False) -> bytes:
    """An .xlsx written by openpyxl: `frame` on a sheet "Applications" (and any other `sheets`)."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = "Applications"
    for title, data in (sheets or {"Applications": frame}).items():
        sheet = first if title == "Applications" else workbook.create_sheet(title)
        sheet.append(list(data.columns))
        for row in data.itertuples(index=False):
            sheet.append([None if pd.isna(v) else v for v in row])
    if hidden_first:
        decoy = workbook.create_sheet("Notes", 0)
        decoy.append(["not", "a", "table"])
        decoy.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def disparate_applications(per_group: int = 60) -> pd.DataFrame:
    """A file whose approvals differ by Gender through a decision feature: every man has a good
    credit history and every woman a bad one, so parity must flag Gender although the model never
    sees it."""
    frame = applications(2 * per_group, seed=4)
    frame["Gender"] = ["Male"] * per_group + ["Female"] * per_group
    frame["Credit_History"] = [1.0] * per_group + [0.0] * per_group
    return frame


# --- other spreadsheet formats, each written by another program than the one that reads it --------

def xls_bytes(frame: pd.DataFrame, *, sheets=None) -> bytes:
    """A legacy Excel 97-2003 .xls written by xlwt."""
    import xlwt

    workbook = xlwt.Workbook()
    for title, data in (sheets or {"Applications": frame}).items():
        sheet = workbook.add_sheet(title)
        for j, name in enumerate(data.columns):
            sheet.write(0, j, name)
        for i, row in enumerate(data.itertuples(index=False), start=1):
            for j, value in enumerate(row):
                if not pd.isna(value):
                    sheet.write(i, j, value.item() if hasattr(value, "item") else value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def ods_bytes(frame: pd.DataFrame, *, sheets=None) -> bytes:
    """An OpenDocument .ods written by pandas through odfpy."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="odf") as writer:
        for title, data in (sheets or {"Applications": frame}).items():
            data.to_excel(writer, sheet_name=title, index=False)
    return buffer.getvalue()


def ods_with_content(table_xml: str) -> bytes:
    """An .ods whose content.xml holds `table_xml` as is: for hostile repeat attributes."""
    import zipfile

    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               f"<office:body><office:spreadsheet>{table_xml}</office:spreadsheet></office:body></office:document-content>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content)
    return buffer.getvalue()


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _record(kind: int, data: bytes = b"") -> bytes:
    """One BIFF12 record (MS-XLSB 2.1.4): type and size as 7-bit varints, then the data."""
    return _varint(kind) + _varint(len(data)) + data


def _wide(text: str) -> bytes:
    import struct

    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def xlsb_bytes(frame: pd.DataFrame, *, far_cell: tuple[int, int] | None = None) -> bytes:
    """A minimal Excel binary workbook (.xlsb), written record by record from MS-XLSB (no Python
    library writes .xlsb): strings as BrtCellSt, numbers as BrtCellReal. `far_cell` adds one number
    at (row, column), as a hostile file would."""
    import struct
    import zipfile

    rows = [list(frame.columns), *frame.itertuples(index=False)]
    sheet = bytearray(_record(0x81) + _record(0x94, struct.pack("<IIII", 0, len(rows) - 1, 0, len(frame.columns) - 1))
                      + _record(0x91))
    cells = [(i, j, v) for i, row in enumerate(rows) for j, v in enumerate(row) if not pd.isna(v)]
    if far_cell:
        cells.append((*far_cell, 1.0))
    current = None
    for i, j, value in cells:
        if i != current:
            sheet += _record(0x00, struct.pack("<IIH", i, 0, 0x12C) + bytes(3) + struct.pack("<I", 0))
            current = i
        cell = struct.pack("<II", j, 0)
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            sheet += _record(0x05, cell + struct.pack("<d", float(value)))
        else:
            sheet += _record(0x06, cell + _wide(str(value)))
    sheet += _record(0x92) + _record(0x82)
    book = (_record(0x83) + _record(0x8F) + _record(0x9C, struct.pack("<II", 0, 1) + _wide("rId1") + _wide("Applications"))
            + _record(0x90) + _record(0x84))
    rels = '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                         'openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application'
                         '/vnd.ms-excel.sheet.binary.macroEnabled.main"/></Types>')
        archive.writestr("_rels/.rels", rels + '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                         'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.bin"/></Relationships>')
        archive.writestr("xl/workbook.bin", book)
        archive.writestr("xl/_rels/workbook.bin.rels", rels + '<Relationship Id="rId1" Type="http://schemas.'
                         'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.bin"/>'
                         "</Relationships>")
        archive.writestr("xl/worksheets/sheet1.bin", bytes(sheet))
    return buffer.getvalue()


def parquet_bytes(frame: pd.DataFrame, row_group_size: int | None = None) -> bytes:
    """A Parquet file written by pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=row_group_size)
    return buffer.getvalue()
