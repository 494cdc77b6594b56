"""Write scored rows as CSV, Excel or JSON records, defusing spreadsheet formulas on the way."""
from __future__ import annotations

import io
import math
from collections.abc import Iterable
from typing import BinaryIO

import pandas as pd

from webapp.errors import InputTooLarge

EXCEL_MAX_ROWS = 1_048_575  # a sheet's 1,048,576 rows, less the header
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with `'` (OWASP CSV injection)."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            text = column.astype(str)
            risky = text.str.startswith(_FORMULA_START) & column.notna()
            if risky.any():
                frame[name] = column.where(~risky, "'" + text)
    return frame


def write_csv(chunks: Iterable[pd.DataFrame], out: BinaryIO) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        for number, chunk in enumerate(chunks):
            neutralise_formulas(chunk).to_csv(text, header=number == 0, index=False, float_format="%.4f",
                                              lineterminator="\r\n")
        text.flush()
    finally:
        text.detach()  # leave `out` open for the caller


def write_xlsx(chunks: Iterable[pd.DataFrame], out: BinaryIO) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Predictions")
    rows = 0
    for number, chunk in enumerate(chunks):
        if number == 0:
            sheet.append(list(chunk.columns))
        rows += len(chunk)
        if rows > EXCEL_MAX_ROWS:
            raise InputTooLarge(f"More than {EXCEL_MAX_ROWS:,} rows do not fit an Excel sheet; ask for CSV.")
        for row in neutralise_formulas(chunk).itertuples(index=False, name=None):
            sheet.append([None if isinstance(v, float) and math.isnan(v) else v for v in row])
    workbook.save(out)


def to_records(chunks: Iterable[pd.DataFrame]) -> list[dict]:
    """Plain dicts, with None where a row has no prediction or no error."""
    records = []
    for chunk in chunks:
        chunk = chunk.astype(object).where(chunk.notna(), None)
        chunk["Loan_Status"] = chunk["Loan_Status"].replace("", None)
        chunk["Error"] = chunk["Error"].replace("", None)
        records.extend(chunk.to_dict(orient="records"))
    return records


def write_result(chunks: Iterable[pd.DataFrame], out: BinaryIO, fmt: str) -> None:
    """CSV or Excel, by name."""
    {"csv": write_csv, "xlsx": write_xlsx}[fmt](chunks, out)


def records_document(chunks: Iterable[pd.DataFrame], summary, model) -> dict:
    """The JSON answer: predictions (always a list), the summary and the model that made them.
    `summary` is complete only after `chunks` is consumed, so the records are built first."""
    predictions = to_records(chunks)
    return {"predictions": predictions, "summary": summary.to_dict(),
            "model": {"name": model.name, "version": model.version}}


def write_records(chunks: Iterable[pd.DataFrame], out: BinaryIO, summary, model) -> None:
    import json

    out.write(json.dumps(records_document(chunks, summary, model), ensure_ascii=False).encode("utf-8"))
