"""Read Apache Parquet files, one row group at a time.

Detected by the magic bytes (`PAR1` at both ends). The footer gives the row count and the schema
before any data is read, so the row and column limits are checked first; rows come out in batches,
so memory stays bounded by a batch, as for CSV.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pandas as pd

from webapp.core.contract import cell_text
from webapp.core.errors import EmptyInput, InputTooLarge, UnreadableInput
from webapp.core.limits import Limits
from webapp.core.table import TEXT, Table, first_line

MAGIC = b"PAR1"


def open_parquet(stream: BinaryIO, limits: Limits) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stream.seek(0)
    try:
        file = pq.ParquetFile(stream)
        rows, names = file.metadata.num_rows, list(file.schema_arrow.names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UnreadableInput(f"The Parquet file could not be read: {first_line(exc)}") from exc
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
                chunk = batch.to_pandas()
                chunk.columns = wanted
                for position in wanted:
                    if kinds.get(position, TEXT) == TEXT:  # IDs as text: an integer 1001 is "1001"
                        chunk[position] = chunk[position].astype(object).map(cell_text)
                    elif pd.api.types.is_string_dtype(chunk[position].dtype):
                        chunk[position] = chunk[position].astype(object)
                yield chunk
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise UnreadableInput(f"The Parquet file could not be read: {first_line(exc)}") from exc

    return Table("parquet", [str(n) for n in names], read_chunks, {"row_groups": file.num_row_groups})
