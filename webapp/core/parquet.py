"""Read Apache Parquet files, one row group at a time.

Detected by the magic bytes (`PAR1` at both ends). The footer gives the row count and the schema
before any data is read, so the row, column and inflated-size limits are checked first; rows come
out in batches, so memory stays bounded by a batch, as for CSV. Text is read dictionary-encoded and
overlong values are cut in the dictionary, once: a value stored once in a dictionary page and
referenced by every row (68 KB on disk) would otherwise be copied into every row (9 GB).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pandas as pd

from webapp.core.contract import cell_text
from webapp.core.errors import EmptyInput, InputTooLarge, UnreadableInput
from webapp.core.limits import Limits
from webapp.core.table import CATEGORY, TEXT, Table, reader_fault

MAGIC = b"PAR1"


def open_parquet(stream: BinaryIO, limits: Limits) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stream.seek(0)
    try:
        schema = pq.ParquetFile(stream).schema_arrow
        text_columns = [f.name for f in schema if _is_text(f.type)]
        stream.seek(0)
        file = pq.ParquetFile(stream, read_dictionary=text_columns)
        rows, names = file.metadata.num_rows, list(file.schema_arrow.names)
        inflated = sum(file.metadata.row_group(g).column(c).total_uncompressed_size
                       for g in range(file.num_row_groups) for c in range(file.metadata.num_columns))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UnreadableInput(reader_fault("Parquet file", exc)) from exc
    if inflated > limits.max_xlsx_uncompressed:  # the same bound as for a workbook's ZIP
        raise InputTooLarge(f"The Parquet file inflates to {inflated / 2**20:,.0f} MB; at most "
                            f"{limits.max_xlsx_uncompressed / 2**20:,.0f} MB are accepted; split it.")
    if len(names) > limits.max_columns:
        raise InputTooLarge(f"The file has {len(names):,} columns; at most {limits.max_columns:,} are accepted.",
                            columns=len(names), max_columns=limits.max_columns)
    if rows > limits.max_rows:
        raise InputTooLarge(f"The file has {rows:,} rows; at most {limits.max_rows:,} are accepted; split it.",
                            max_rows=limits.max_rows)
    if rows == 0:
        raise EmptyInput("The Parquet file holds no rows.")

    def read_chunks(kinds: dict[int, str]) -> Iterator[pd.DataFrame]:
        wanted = sorted(kinds) or list(range(len(names)))
        try:
            for batch in file.iter_batches(batch_size=limits.chunk_rows, columns=[names[p] for p in wanted]):
                columns = [_as_reading(_cut(batch.column(i), limits.max_cell_length), kinds.get(p, TEXT))
                           for i, p in enumerate(wanted)]
                chunk = pa.Table.from_arrays(columns, names=[str(p) for p in wanted]).to_pandas()
                chunk.columns = wanted
                for position in wanted:  # what Arrow could not convert: per distinct value, as other readers do
                    if kinds.get(position, TEXT) == TEXT and chunk[position].dtype == object:
                        chunk[position] = chunk[position].map(cell_text)
                yield chunk
        except (pa.ArrowException, OSError, ValueError) as exc:
            column = _first_unreadable(file, [names[p] for p in wanted])
            raise UnreadableInput(reader_fault(f"column {column!r} of the Parquet file" if column else "Parquet file",
                                               exc)) from exc

    return Table("parquet", [str(n) for n in names], read_chunks, {"row_groups": file.num_row_groups})


def _first_unreadable(file, names: list[str]) -> str | None:
    """Which column a failed read stumbled on, read again one column at a time (only on that
    failure): the reader's error says what went wrong, never where. Cut to 100 characters."""
    import pyarrow as pa

    for name in names:
        try:
            for _ in file.iter_batches(batch_size=65_536, columns=[name]):
                pass
        except (pa.ArrowException, OSError, ValueError):
            return str(name)[:100]
    return None


def _is_text(arrow_type) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _cut(column, max_length: int):
    """Text values longer than the cell limit cut to one character more (so validation still
    reports the row), in the dictionary when there is one: once per distinct value, not per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _is_text(column.type):
        return column
    values = column.dictionary if pa.types.is_dictionary(column.type) else column
    longest = pc.max(pc.utf8_length(values)).as_py()
    if longest is None or longest <= max_length:
        return column
    cut = pc.utf8_slice_codeunits(values, 0, max_length + 1)
    return pa.DictionaryArray.from_arrays(column.indices, cut) if values is not column else cut


def _as_reading(column, kind: str):
    """An Arrow column as the CSV reader would give it, converted by Arrow rather than per row
    (profiled: cell by cell, a 500,000-row part spent 1.1 s of 2.1 s converting strings):
    IDs as trimmed text ("" where missing); categories dictionary-encoded (pandas Categoricals);
    numbers held as text parsed to floats when every cell parses, else left for validation to report."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type) and kind == CATEGORY:
        return column  # already what a category is read as
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)  # values already cut to the cell limit
    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if kind == TEXT:
        if text:
            return pc.fill_null(pc.utf8_trim_whitespace(column), "")
        if pa.types.is_integer(column.type):
            return pc.fill_null(pc.cast(column, pa.string()), "")
        return column  # floats, dates, ...: cell_text per value, after to_pandas
    if kind == CATEGORY:
        return pc.dictionary_encode(column) if text else column
    if text:
        trimmed = pc.utf8_trim_whitespace(column)
        blank = pc.equal(trimmed, "")
        try:
            return pc.cast(pc.if_else(blank, pa.scalar(None, pa.string()), trimmed), pa.float64())
        except pa.ArrowInvalid:
            return column  # something is not a number: validation says which row
    return column
