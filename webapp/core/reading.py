"""Read an uploaded table (CSV, a spreadsheet or JSON records) into chunks of raw cells.

The format is decided from the content (a spreadsheet is a ZIP or OLE2 container, text must decode),
never from the file name or a client's Content-Type. Readers do not interpret values: they return
frames whose columns are the header's positions, and validation gives the cells meaning.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
import warnings
from collections.abc import Iterator
from typing import BinaryIO

import pandas as pd

from webapp.core import parquet, spreadsheets
from webapp.core.contract import cell_text
from webapp.core.errors import (
    DuplicateColumns,
    EmptyInput,
    InputError,
    InputTooLarge,
    UnreadableInput,
    UnsupportedFormat,
)
from webapp.core.limits import DEFAULT_LIMITS, Limits
from webapp.core import table as tables
from webapp.core.table import CATEGORY, NUMBER, SUPPORTED, TEXT, FewRows, Table, first_line  # noqa: F401 (re-exported)


_MAGIC = (
    (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"), (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"), (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ", "an xz archive"),
    (b"\x7fELF", "an executable"), (b"MZ", "an executable"),
)


def open_table(source: bytes | BinaryIO, *, sheet: str | None = None, json_hint: bool = False,
               limits: Limits = DEFAULT_LIMITS) -> Table:
    """Sniff `source` and return a Table; raise an InputError for anything that is not a table."""
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    stream.seek(0)
    head = stream.read(limits.max_header_bytes)
    stream.seek(0)
    if not head.strip():
        raise EmptyInput("The file is empty.")
    if head.startswith(spreadsheets.MAGIC):
        return spreadsheets.open_spreadsheet(stream, head, sheet, limits)
    if head.startswith(parquet.MAGIC):
        return parquet.open_parquet(stream, limits)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormat(f"This looks like {what}, not a table. Upload {SUPPORTED}.", supported=SUPPORTED)
    encoding = detect_encoding(stream, head)
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff \t\r\n")
    if json_hint or text[:1] in ("[", "{"):
        return _open_json(stream, encoding, limits)
    return _open_csv(stream, encoding, text, limits)


# --- text ---------------------------------------------------------------------------------------

def detect_encoding(stream: BinaryIO, head: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16/32 with a BOM, else Windows-1252 (Latin-1 for its five holes).

    The whole file is checked in blocks, so a bad byte on line 900,000 is caught before any row is
    scored, and text with NUL bytes is refused as binary rather than scored with NULs in its values.
    """
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return _checked_wide(stream, "utf-32")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _checked_wide(stream, "utf-16")
    utf8 = codecs.getincrementaldecoder("utf-8")()
    legacy_ok = True
    try:
        for block in iter(lambda: stream.read(1 << 20), b""):
            if b"\x00" in block:
                raise UnsupportedFormat("The file holds NUL bytes: it is binary, not a text table. "
                                        f"Upload {SUPPORTED}.", supported=SUPPORTED)
            if utf8 is not None:
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    utf8 = None
            if utf8 is None and legacy_ok:
                legacy_ok = _decodes(block, "cp1252")
        if utf8 is not None:
            utf8.decode(b"", final=True)
            return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    except UnicodeDecodeError:
        pass
    finally:
        stream.seek(0)
    return "cp1252" if legacy_ok else "latin-1"


def _checked_wide(stream: BinaryIO, encoding: str) -> str:
    """`encoding` (UTF-16 or UTF-32, named by the byte-order mark) once the whole file decodes in it:
    a lone surrogate or an odd byte at the end is refused here, not met half-way through scoring."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for block in iter(lambda: stream.read(1 << 20), b""):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise UnreadableInput(f"The file starts with a {encoding.upper()} byte-order mark but is not valid "
                              f"{encoding.upper()} text; save it as UTF-8.") from None
    finally:
        stream.seek(0)
    return encoding


def _decodes(block: bytes, encoding: str) -> bool:
    try:
        block.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


# --- CSV ----------------------------------------------------------------------------------------

def _open_csv(stream: BinaryIO, encoding: str, head_text: str, limits: Limits) -> Table:
    if "\n" not in head_text and "\r" not in head_text and len(head_text.encode(encoding, "ignore")) >= limits.max_header_bytes:
        raise InputTooLarge(f"The header line is longer than {limits.max_header_bytes:,} bytes.")
    first_line = head_text.splitlines()[0] if head_text else ""
    delimiter = detect_delimiter(first_line)
    try:
        header = next(csv.reader(io.StringIO(head_text, newline=""), delimiter=delimiter), [])
    except csv.Error as exc:
        raise UnreadableInput(f"The header row could not be parsed: {exc}.") from exc
    if len(header) > limits.max_columns:
        raise InputTooLarge(f"The file has {len(header):,} columns; at most {limits.max_columns:,} are accepted.",
                            columns=len(header), max_columns=limits.max_columns)
    header = [h.strip() for h in header]

    def read_chunks(kinds: dict[int, str]) -> Iterator[pd.DataFrame]:
        pandas_chunks = _pandas_csv_chunks(stream, delimiter, encoding, len(header), kinds, limits)
        if encoding in ("utf-8", "utf-8-sig") and not any("\n" in h or "\r" in h for h in header):
            yield from _arrow_csv_chunks(stream, delimiter, len(header), kinds, limits, pandas_chunks)
        else:
            yield from pandas_chunks

    return Table("csv", header, read_chunks, {"encoding": encoding, "delimiter": delimiter})


def _pandas_csv_chunks(stream, delimiter, encoding, width, kinds, limits) -> Iterator[pd.DataFrame]:
    """The reference reader: pandas' C parser, every error turned into an InputError with its line."""
    stream.seek(0)
    dtypes, na_values = {}, {}
    for position in range(width):
        kind = kinds.get(position, TEXT)
        dtypes[position] = {TEXT: str, CATEGORY: "category", NUMBER: None}[kind]
        if kind != TEXT:  # an empty cell is a missing feature, but an empty ID stays ""
            na_values[position] = [""]
    yield from _guard_csv_errors(lambda: pd.read_csv(
        stream, sep=delimiter, encoding=encoding, header=0, names=list(range(width)),
        index_col=False, dtype={k: v for k, v in dtypes.items() if v is not None},
        keep_default_na=False, na_values=na_values, on_bad_lines="error", skip_blank_lines=True,
        chunksize=limits.chunk_rows, engine="c",
    ))


ARROW_SEGMENT_BYTES = 8 << 20  # about 130,000 loan rows a segment


def _arrow_csv_chunks(stream, delimiter, width, kinds, limits, fallback) -> Iterator[pd.DataFrame]:
    """Clean UTF-8 files through pyarrow's CSV parser (0.37 s vs 0.58 s per 1M rows).

    The file is parsed one segment of about 8 MB at a time, cut at a newline, so memory stays flat
    (pyarrow's own streaming reader reads the whole file ahead). That cut is a record boundary only
    when the segment has no quote character, and only what pyarrow can type exactly as the
    reference reader is read: IDs as text, categories as dictionaries, numbers as floats with empty
    cells missing. At the first segment with a quote, or that pyarrow cannot type (text in a numeric
    column, a ragged row, ...), pandas' reader takes over at that row, so every error message and
    odd case still comes from the reference reader."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(width)]
    kinds = kinds or dict.fromkeys(range(width), TEXT)  # as the reference reader: every column, as text
    wanted = sorted(kinds)
    arrow_types = {TEXT: pa.string(), CATEGORY: pa.dictionary(pa.int32(), pa.string()), NUMBER: pa.float64()}
    options = {
        "read_options": pacsv.ReadOptions(column_names=names),
        "parse_options": pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
        "convert_options": pacsv.ConvertOptions(
            column_types={names[p]: arrow_types[kinds[p]] for p in wanted},
            include_columns=[names[p] for p in wanted], null_values=[""],
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    }
    done = 0
    try:
        for segment in _segments_after_header(stream):
            if segment is None or b'"' in segment:
                break
            table = pacsv.read_csv(pa.py_buffer(segment), **options)
            for offset in range(0, table.num_rows, limits.chunk_rows):  # slices are zero-copy
                frame = table.slice(offset, limits.chunk_rows).to_pandas()
                frame.columns = wanted
                frame.index = pd.RangeIndex(done, done + len(frame))
                done += len(frame)
                yield frame
        else:
            return
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass  # hand over to the reference reader below
    for chunk in fallback:
        start = chunk.index[0] if len(chunk) else 0
        if start + len(chunk) <= done:
            continue  # rows already given out
        yield chunk.iloc[max(0, done - start):]


def _segments_after_header(stream) -> Iterator[bytes]:
    """The bytes after the first line, in pieces of about ARROW_SEGMENT_BYTES ending at a newline;
    None when lines end with a lone CR (no newline to cut at)."""
    stream.seek(0)
    header = stream.readline(1 << 20)
    if b"\r" in header.rstrip(b"\r\n") or not header.endswith(b"\n"):
        yield None
        return
    pending = b""
    for block in iter(lambda: stream.read(ARROW_SEGMENT_BYTES), b""):
        pending += block
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield pending[:cut]
            pending = pending[cut:]
    if pending.strip():
        yield pending + b"\n"


def detect_delimiter(header_line: str) -> str:
    """The candidate (`,` `;` tab `|`) that splits the header most; a comma when none does.

    Counting in the header beats guessing from data rows: column names hold no delimiters, while
    data can (csv.Sniffer guesses a letter on one-column files)."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _guard_csv_errors(open_reader) -> Iterator[pd.DataFrame]:
    """Turn the parser's errors and silent truncations into InputErrors that name the line.
    The reader is opened inside the guard: pandas parses the header as it opens."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            with open_reader() as reader:
                yield from reader
    except pd.errors.ParserWarning as exc:
        raise UnreadableInput("The first data row has more fields than the header; check the delimiter "
                              "and quoting.") from exc
    except pd.errors.ParserError as exc:
        match = _FIELDS.search(str(exc))
        if match:
            expected, line, saw = match.groups()
            raise UnreadableInput(f"Line {line} has {saw} fields, but the header has {expected}. "
                                  "Check the delimiter and quoting on that line.", line=int(line)) from exc
        raise UnreadableInput(f"The CSV could not be parsed: {first_line(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise UnreadableInput("The file's text encoding could not be read; save it as UTF-8.") from exc


# --- JSON ---------------------------------------------------------------------------------------

def _open_json(stream: BinaryIO, encoding: str, limits: Limits) -> Table:
    raw_bytes = stream.read(limits.max_json_bytes + 1)
    if len(raw_bytes) > limits.max_json_bytes:
        raise InputTooLarge(f"JSON bodies are limited to {limits.max_json_bytes / 2**20:,.0f} MB; "
                            "send larger batches as CSV.")
    raw = raw_bytes.decode(encoding)
    records, columns = parse_records(raw, limits)

    def read_chunks(kinds: dict[int, str]) -> Iterator[pd.DataFrame]:
        # Every column stays Python objects (text columns as `cell_text` gives them): validation
        # checks a few records value by value, with no string array built per column.
        cell = [_text_cell if kinds.get(position) == TEXT else _scalar for position in range(len(columns))]
        for start in range(0, len(records), limits.chunk_rows):
            rows = [[read(record.get(c)) for read, c in zip(cell, columns)]
                    for record in records[start:start + limits.chunk_rows]]
            if len(rows) <= tables.SMALL_ROWS:
                yield FewRows(rows, len(columns))
            else:
                yield pd.DataFrame(rows, columns=range(len(columns)), dtype=object)

    return Table("json", columns, read_chunks)


def parse_records(text: str, limits: Limits = DEFAULT_LIMITS) -> tuple[list[dict], list[str]]:
    """Records and their columns (in order of first appearance) from every JSON shape we accept:
    a list of objects, one object, {"records": [...]}, MLflow's {"dataframe_records": [...]} and
    {"dataframe_split": {"columns": [...], "data": [[...]]}}, or a JSON string holding any of these."""
    payload = _loads(text, limits)
    if isinstance(payload, str):  # df.to_json(orient="records") sent through json= : double-encoded
        payload = _loads(payload, limits)
    if isinstance(payload, dict):
        if "dataframe_split" in payload:
            payload = _split_to_records(payload["dataframe_split"])
        else:
            for key in ("records", "dataframe_records"):
                if key in payload:
                    payload = payload[key]
                    break
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise InputError("Expected JSON records: a list of objects such as "
                         '[{"Loan_ID": "LP001015", "Gender": "Male", …}], {"records": [...]}, '
                         '{"dataframe_records": [...]} or {"dataframe_split": {"columns": [...], "data": [...]}}.',
                         code="not-records")
    if not payload:
        raise EmptyInput("The JSON holds no records.")
    if len(payload) > limits.max_rows:
        raise InputTooLarge(f"{len(payload):,} records; at most {limits.max_rows:,} are accepted.")
    columns: dict[str, None] = {}
    for record in payload:
        columns.update(dict.fromkeys(record))
        if len(columns) > limits.max_columns:
            raise InputTooLarge(f"The records hold more than {limits.max_columns:,} distinct fields.")
    return payload, list(columns)


def _split_to_records(split) -> list[dict]:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list) or not isinstance(split.get("data"), list):
        raise InputError('"dataframe_split" needs "columns" (a list of names) and "data" (a list of rows).',
                         code="not-records")
    columns = [str(c) for c in split["columns"]]
    if len(set(columns)) != len(columns):  # as for CSV headers: a second column must not replace the first
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        raise DuplicateColumns(f"dataframe_split.columns repeats {', '.join(repr(c[:40]) for c in repeated[:5])}. "
                               "Keep one of each.", duplicate_columns=repeated[:20])
    records = []
    for number, row in enumerate(split["data"], start=1):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InputError(f"Row {number} of dataframe_split.data does not have {len(columns)} values.",
                             code="not-records")
        records.append(dict(zip(columns, row)))
    return records


def _loads(text: str, limits: Limits):
    depth = _max_depth(text)
    if depth > limits.max_json_depth:
        raise InputError(f"The JSON is nested {depth} levels deep; at most {limits.max_json_depth} are accepted.",
                         code="json-too-deep")
    try:
        payload = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicate_keys)
    except InputError:
        raise
    except (ValueError, RecursionError) as exc:
        raise UnreadableInput(f"The body is not valid JSON: {first_line(exc)}") from exc
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(payload)
    return payload


# A \uD800-\uDFFF escape: half of a UTF-16 pair, which JSON's grammar allows alone but no text can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _refuse_lone_surrogates(payload) -> None:
    """A pair is one character (an emoji); a half alone would fail every writer downstream (a 500)."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise UnreadableInput("The JSON holds a \\uD800-\\uDFFF escape that is half of a character: no text "
                              "can hold it. Send the whole character (its pair of escapes) or UTF-8.") from None


SMALL_JSON_CHARACTERS = 16_384
_BRACKETS = re.compile(r"[\[\]{}]")


def _max_depth(text: str) -> int:
    """Nesting depth counted without parsing, so deep nesting is refused before recursion starts.
    Brackets inside strings count too: that can only overestimate, and records are shallow."""
    if len(text) <= SMALL_JSON_CHARACTERS:  # numpy's per-call cost dwarfs a few records' brackets
        depth = deepest = 0
        for bracket in _BRACKETS.findall(text):
            depth += 1 if bracket in "[{" else -1
            deepest = max(deepest, depth)
        return deepest
    import numpy as np

    data = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = (np.isin(data, (ord("["), ord("{"))).astype(np.int32)
             - np.isin(data, (ord("]"), ord("}"))).astype(np.int32))
    return int(np.cumsum(steps).max(initial=0))


def _refuse_constant(name: str):
    raise InputError(f"{name} is not valid JSON; send null for a missing value.", code="invalid-json")


def _refuse_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        raise InputError(f"A JSON object repeats the key(s) {', '.join(duplicated[:5])}.", code="duplicate-keys")
    return dict(pairs)


def _text_cell(value) -> str:
    return cell_text(_scalar(value))


def _scalar(value):
    """Nested objects and lists are no cell values: keep their JSON text so validation reports them."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:100]
    return value
