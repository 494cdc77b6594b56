"""Write scored rows as CSV, Excel or JSON records, defusing spreadsheet formulas on the way."""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np
import pandas as pd

from webapp.core.errors import ContractViolation, InputTooLarge
from webapp.core.reasons import ACTION_COLUMN, REASONS
from webapp.core.results import (FIXED_WIDTH, JSON_EXPLANATION_FIELDS, ExplainedRows, ScoredChunk, explained_of,
                                 frame_of, without_empty_category)

EXCEL_MAX_ROWS = 1_048_575  # a sheet's 1,048,576 rows, less the header
FORMATS = {  # media types; Flask adds `charset=utf-8` to text types itself
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with `'` (OWASP CSV injection)."""
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            text = column.cat.categories.astype(str)  # check the few categories, not every cell
            risky = text.str.startswith(_FORMULA_START)
            if risky.any():
                frame[name] = column.cat.rename_categories(np.where(risky, "'" + text, text))
        elif pd.api.types.is_string_dtype(column.dtype) and column.dtype != object:
            risky = _starting_a_formula(column)
            if risky.any():
                frame[name] = column.where(~risky, "'" + column)
        elif column.dtype == object:
            # Python strings: look only at the non-empty cells (an Error column is mostly empty).
            values = column.to_numpy()
            rows = np.flatnonzero(values != "")
            cells = [values[i] for i in rows]
            risky = [i for i, v in zip(rows, cells) if isinstance(v, str) and v.startswith(_FORMULA_START)]
            if risky:
                values = values.copy()
                values[risky] = ["'" + values[i] for i in risky]
                frame[name] = pd.Series(values, index=column.index, dtype=object)
    return frame


_FORMULA_BYTE = np.zeros(256, dtype=bool)  # which first bytes start a formula
_FORMULA_BYTE[np.frombuffer("".join(_FORMULA_START).encode("ascii"), dtype=np.uint8)] = True


def _starting_a_formula(column: pd.Series) -> np.ndarray:
    """Which cells of a text column start with a formula character: off their Arrow buffers when
    the column is Arrow-backed text (`_arrow_formula_cells`), else through `str.startswith`."""
    import pyarrow as pa

    try:
        array = pa.array(column.array)
    except (TypeError, pa.ArrowInvalid):
        array = None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array is None or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return column.str.startswith(_FORMULA_START).fillna(False).to_numpy(dtype=bool)
    return _arrow_formula_cells(array)


def _arrow_formula_cells(array) -> np.ndarray:
    """Which cells of an Arrow text array start with a formula character, read off the first byte of
    each cell's UTF-8 (the characters are ASCII, and no other character's encoding starts with one):
    one numpy pass where `str.startswith` made six over the column (8% of a 1M-row upload's request
    thread)."""
    import pyarrow as pa

    offsets, data = array.buffers()[1], array.buffers()[2]
    width = np.int32 if pa.types.is_string(array.type) else np.int64
    starts = np.frombuffer(offsets, dtype=width)[array.offset:array.offset + len(array) + 1]
    if data is None:
        return np.zeros(len(array), dtype=bool)
    filled = np.diff(starts) > 0
    first = starts[:-1] if filled.all() else starts[:-1][filled]
    risky = np.zeros(len(array), dtype=bool)
    risky[filled] = _FORMULA_BYTE[np.frombuffer(data, dtype=np.uint8)[first]]
    if array.null_count:
        risky &= np.asarray(array.is_valid())
    return risky


def write_csv(chunks: Iterable[pd.DataFrame], out: BinaryIO) -> None:
    """RFC 4180 CSV in UTF-8 with CRLF line ends; empty cells where a row has no value.

    pyarrow writes about ten times faster than DataFrame.to_csv (profiled: to_csv was 37% of a
    1M-row run). It quotes every text value, which any CSV reader, Excel included, takes as is."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    writer = schema = None
    try:
        for chunk in chunks:
            columns = _csv_columns(chunk)
            if columns is None:  # columns of other kinds (a plain frame): through pandas
                frame = _prepare_for_csv(neutralise_formulas(frame_of(chunk)))
                names = list(frame.columns)
            else:
                names = list(columns)
            if writer is None:
                schema = (pa.schema([(name, _arrow_type(frame[name])) for name in names]) if columns is None
                          else pa.schema([(name, array.type) for name, array in columns.items()]))
                header = io.StringIO()
                csv.writer(header, lineterminator="\r\n").writerow(names)
                out.write(header.getvalue().encode("utf-8"))
                writer = pacsv.CSVWriter(out, schema, write_options=pacsv.WriteOptions(
                    include_header=False, eol="\r\n", quoting_style="needed"))
            if columns is None:
                writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
            else:
                writer.write_table(pa.Table.from_arrays(list(columns.values()), schema=schema))
    finally:
        if writer is not None:
            writer.close()


def _csv_columns(chunk) -> dict | None:
    """A scored chunk's answer as the Arrow columns the CSV writer takes, straight from its columns:
    what `_prepare_for_csv(neutralise_formulas(frame))` gives, without building the frame and
    converting it back (a fifth of a 1M-row upload's CSV writing, measured). None when a column is
    of another kind than scoring's own (then the frame path writes the chunk)."""
    import pyarrow as pa

    if not isinstance(chunk, ScoredChunk):
        return None
    columns = {}
    for name, values in chunk.columns.items():
        if name == "Approval_Probability" and isinstance(values, np.ndarray) and values.dtype == np.float64:
            columns[name] = pa.array(np.round(values, 4), from_pandas=True)  # NaN: an empty cell
        elif isinstance(values, pd.Categorical) and all(type(c) is str for c in values.categories):
            columns[name] = _csv_categories(values)
        elif name == "Error" and isinstance(values, np.ndarray) and values.dtype == object:
            columns[name] = _csv_errors(values)
        elif isinstance(values, pd.arrays.ArrowStringArray):
            columns[name] = _csv_text(values)
        else:
            return None
        if columns[name] is None:
            return None
    return columns


def _csv_text(values: pd.arrays.ArrowStringArray):
    """Arrow text as it is, the cells that start a formula prefixed with `'`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values)
    array = (array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array).cast(pa.string())
    risky = _arrow_formula_cells(array)
    if not risky.any():
        return array
    return pc.if_else(pa.array(risky), pc.binary_join_element_wise("'", array, ""), array)


def _csv_categories(values: pd.Categorical):
    """A Categorical as the CSV writer's dictionary column: the empty category a null (an empty
    cell, as `_prepare_for_csv` makes it), risky categories prefixed."""
    import pyarrow as pa

    values = without_empty_category(values)
    categories = values.categories.to_numpy(dtype=object)
    risky = np.array([text.startswith(_FORMULA_START) for text in categories], dtype=bool)
    if risky.any():
        categories = np.where(risky, "'" + categories.astype(str), categories).astype(object)
    codes = np.asarray(values.codes, dtype=np.int32)
    missing = codes < 0
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=missing if missing.any() else None),
                                          pa.array(categories, type=pa.string()))


def _csv_errors(values: np.ndarray):
    """The Error column: empty for a scored row (null: an empty cell), a risky message prefixed;
    None if a cell is not text."""
    import pyarrow as pa

    failed = values != ""
    if not failed.any():
        return pa.nulls(len(values), pa.string())
    texts = values.copy()
    for row in np.flatnonzero(failed):
        if type(texts[row]) is not str:
            return None  # not scoring's own messages: the frame path
        if texts[row].startswith(_FORMULA_START):
            texts[row] = "'" + texts[row]
    return pa.array(texts, mask=~failed, type=pa.string())


def _arrow_type(column: pd.Series):
    """Fixed per column from the first chunk: a chunk whose Error column is all empty must not type
    it as null. Categoricals (status, reasons) stay dictionaries: pyarrow writes them ~3x faster than
    the same values expanded to strings (measured)."""
    import pyarrow as pa

    if column.name == "Approval_Probability":
        return pa.float64()
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


def _prepare_for_csv(chunk: pd.DataFrame) -> pd.DataFrame:
    """Probabilities to 4 decimals; absent status, error and reasons as nulls (written as empty
    cells); joined input columns as text."""
    chunk["Approval_Probability"] = chunk["Approval_Probability"].round(4)
    for name in chunk.columns[1:]:
        column = chunk[name]
        if isinstance(column.dtype, pd.CategoricalDtype):  # status and reasons: few distinct values
            chunk[name] = without_empty_category(column.array)
        elif name == "Error":
            chunk[name] = column.astype(object).where(column != "", None)
        elif name != "Approval_Probability":
            chunk[name] = column.astype(object).where(column.notna(), None)
    return chunk


def write_xlsx(chunks: Iterable[pd.DataFrame], out: BinaryIO) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Predictions")
    rows = 0
    for number, chunk in enumerate(chunks):
        chunk = frame_of(chunk)
        if number == 0:
            _append(sheet, list(chunk.columns), "The header")
        rows += len(chunk)
        if rows > EXCEL_MAX_ROWS:
            raise InputTooLarge(f"More than {EXCEL_MAX_ROWS:,} rows do not fit an Excel sheet; ask for CSV.")
        first = rows - len(chunk) + 1
        for line, row in enumerate(neutralise_formulas(chunk).itertuples(index=False, name=None), first):
            _append(sheet, [None if (isinstance(v, float) and math.isnan(v)) or v == "" else v for v in row],
                    f"Row {line:,}")
    workbook.save(out)


def _append(sheet, values: list, where: str) -> None:
    from openpyxl.utils.exceptions import IllegalCharacterError

    try:
        sheet.append(values)
    except IllegalCharacterError:
        # A sheet cannot hold control characters; changing an ID to fit would lose data.
        raise ContractViolation(f"{where} holds a control character that an Excel sheet cannot store; ask for CSV or "
                                "JSON instead.", code="not-representable-in-excel") from None


def to_records(chunks: Iterable[pd.DataFrame]) -> list[dict]:
    """Plain dicts, with None where a row has no prediction or no error. Explained answers add
    `contributions` ({feature: log-odds}; None for failed rows) and `reasons` ([{code, feature,
    text, contribution}], most damaging first)."""
    return [record for scored in chunks for record in chunk_records(scored)]


def chunk_records(scored) -> list[dict]:
    """One chunk's rows as the JSON answer's records (see `to_records`)."""
    if isinstance(scored, ScoredChunk):  # its columns, without building the frame
        columns = list(scored.columns)
        values = [scored.objects(name) for name in columns]
        probability = np.asarray(scored.columns["Approval_Probability"], dtype=np.float64)
    else:
        columns = list(scored.columns)
        values = [scored[name].to_numpy(dtype=object) for name in columns]
        probability = scored["Approval_Probability"].to_numpy()
    values[columns.index("Approval_Probability")] = [None if math.isnan(p) else float(p) for p in probability]
    for name in ("Loan_Status", "Error", ACTION_COLUMN):
        if name not in columns:
            continue
        position = columns.index(name)
        values[position] = [v if isinstance(v, str) and v else None for v in values[position]]
    for position in range(FIXED_WIDTH, len(columns)):  # joined input columns
        if columns[position] == ACTION_COLUMN:
            continue
        values[position] = [None if v is None or v != v else v for v in values[position]]
    explained = explained_of(scored)
    if explained is not None:
        columns[FIXED_WIDTH:FIXED_WIDTH] = list(JSON_EXPLANATION_FIELDS)
        values[FIXED_WIDTH:FIXED_WIDTH] = _explanation_values(explained)
    return [dict(zip(columns, row)) for row in zip(*values)]


def _explanation_values(explained: ExplainedRows) -> list[list]:
    """Each row's contributions dict and reasons list, from the arrays."""
    n = len(explained.valid)
    contributions: list[dict | None] = [None] * n
    reasons: list[list] = [[] for _ in range(n)]
    if explained.explanations is not None:
        features = explained.explanations.features
        rows = np.flatnonzero(explained.valid)
        for row, values in zip(rows, explained.explanations.contributions.tolist()):
            contributions[row] = dict(zip(features, values))
        for row, indices in zip(rows, explained.principal[rows].tolist()):
            for i in indices:
                if i >= 0:
                    reason = REASONS[i]
                    reasons[row].append({"code": reason.code, "feature": reason.feature, "text": reason.text,
                                         "contribution": contributions[row][reason.feature]})
    return [contributions, reasons]


def write_parquet(chunks: Iterable[pd.DataFrame], out: BinaryIO) -> None:
    """Parquet, one row group per chunk, typed as the CSV is (probability float, the rest text; status
    and reasons dictionary-encoded). Values are kept exactly: no spreadsheet opens Parquet, so no
    formula is defused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = schema = None
    try:
        for chunk in chunks:
            chunk = _prepare_for_csv(frame_of(chunk))
            if writer is None:
                schema = pa.schema([(name, _arrow_type(chunk[name])) for name in chunk.columns])
                writer = pq.ParquetWriter(out, schema)
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
    finally:
        if writer is not None:
            writer.close()


def write_result(chunks: Iterable[pd.DataFrame], out: BinaryIO, fmt: str) -> None:
    """CSV, Excel or Parquet, by name."""
    {"csv": write_csv, "xlsx": write_xlsx, "parquet": write_parquet}[fmt](chunks, out)


def model_about(model, *, explained: bool = False) -> dict:
    about = {"name": model.name, "version": model.version}
    if explained:
        about.update(explanation_base=model.explanation_base, explanation_method=model.explanation_method)
    return about


def write_json_answer(chunks: Iterable, out: BinaryIO, finish, model, *, explained: bool = False) -> None:
    """The JSON answer — predictions (always a list), the summary and the model — written chunk by
    chunk, so memory holds one chunk's records, never the whole answer. `finish()` gives the summary
    report once the last row is written (it is complete only then)."""
    out.write(b'{"predictions":[')
    first = True
    for chunk in chunks:
        records = chunk_records(chunk)
        if records:
            text = _JSON.encode(records)[1:-1]  # the C encoder over the chunk's list, brackets dropped
            out.write(text.encode("utf-8") if first else b"," + text.encode("utf-8"))
            first = False
    report = finish()
    out.write(b'],"summary":' + _JSON.encode(report).encode("utf-8"))
    out.write(b',"model":' + _JSON.encode(model_about(model, explained=explained)).encode("utf-8") + b"}")


def _plain(value):
    """numpy scalars the encoder meets in joined input columns or statistics."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=_plain)


def records_document(chunks: Iterable[pd.DataFrame], summary, model, *, explained: bool = False) -> dict:
    """The JSON answer as one dict (small answers; big ones go through `write_json_answer`)."""
    predictions = to_records(chunks)
    return {"predictions": predictions, "summary": summary.to_dict(), "model": model_about(model, explained=explained)}


def write_records(chunks: Iterable[pd.DataFrame], out: BinaryIO, summary, model, *, explained: bool = False) -> None:
    write_json_answer(chunks, out, summary.to_dict, model, explained=explained)
