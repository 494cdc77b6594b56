"""The records store: one immutable Parquet file per batch, written chunk by chunk under a
temporary name and renamed when the batch completes, so no reader ever sees a partial archive.

The store is a folder (`RECORDS_URL`, by default `records/` in the instance folder); it must outlive
the 24-hour result files and be shared by every worker and host that records."""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FIXED = {"row": pa.int64(), "loan_id": pa.string(), "status": pa.string(), "probability": pa.float64(),
         "error": pa.string(), "reason_codes": pa.list_(pa.string()),
         "reason_contributions": pa.list_(pa.float64())}
INPUT_PREFIX = "input."


def store_folder(store, database_url: str | None = None) -> Path:
    """The store's folder: `store` when given (a path or `file://` URL), else beside a SQLite file."""
    if store is not None:
        text = str(store)
        return Path(text[len("file://"):] if text.startswith("file://") else text)
    if database_url and database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        return Path(database_url[len("sqlite:///"):]).parent / "records"
    raise ValueError("the records store is not set: pass store= (RECORDS_URL)")


def normalise(table: pa.Table) -> pa.Table:
    """The stored schema: the fixed columns with their types, then the inputs (numbers float64, the
    rest text), so equal decisions always serialise, and hash, the same."""
    missing = [name for name in FIXED if name not in table.column_names]
    if missing:
        raise ValueError(f"decisions lack the columns {missing}")
    columns = {name: table[name].cast(kind) for name, kind in FIXED.items()}
    for name in table.column_names:
        if name.startswith(INPUT_PREFIX):
            column = table[name]
            numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            columns[name] = column.cast(pa.float64() if numeric else pa.string())
    return pa.table(columns)


class ArchiveWriter:
    """Appends chunks to `<batch>.parquet.partial`; `close()` makes it `<batch>.parquet`."""

    def __init__(self, folder: Path, batch_id: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{batch_id}.parquet"
        self.partial = folder / f"{batch_id}.parquet.partial"
        self._writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.schema = table.schema
            self._writer = pq.ParquetWriter(self.partial, table.schema, compression="zstd")
        elif table.schema != self.schema:
            raise ValueError("a chunk's columns differ from the batch's first chunk")
        self._writer.write_table(table, row_group_size=1_000_000)

    def close(self) -> Path:
        """Flush, sync and publish. An empty batch still gets an (empty) archive."""
        if self._writer is None:
            self.write(normalise(pa.table({name: pa.array([], kind) for name, kind in FIXED.items()})))
        self._writer.close()
        with open(self.partial, "rb") as fh:
            os.fsync(fh.fileno())  # the record must survive a crash once the database says complete
        os.replace(self.partial, self.path)
        return self.path

    def abandon(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError:
                pass
        self.partial.unlink(missing_ok=True)


def read(path: str | Path, rows: list[int] | None = None) -> pa.Table:
    """A batch's decisions, or only the given row numbers (row groups are skipped by their stats)."""
    if rows is None:
        return pq.read_table(path)
    return pq.read_table(path, filters=[("row", "in", rows)])
