"""The records store: one immutable Parquet archive per batch, written chunk by chunk under a
temporary name and renamed when the batch completes, so no reader ever sees a partial archive.
Archives under 1 MiB (single records, small files) are kept in the batch's row instead: a file and
its fsync would cost a single-record request several milliseconds.

The store is a folder (`RECORDS_URL`, by default `records/` in the instance folder); it must outlive
the 24-hour result files and be shared by every worker and host that records."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FIXED = {"row": pa.int64(), "loan_id": pa.string(), "status": pa.string(), "probability": pa.float64(),
         "error": pa.string(), "reason_codes": pa.list_(pa.string()),
         "reason_contributions": pa.list_(pa.float64())}
INPUT_PREFIX = "input."


def store_folder(store, database_url: str | None = None) -> Path:
    """The store's folder: `store` when given (a path or `file://` URL), else beside a SQLite file."""
    if store is not None:
        text = str(store)
        return Path(text.removeprefix("file://"))
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


INLINE_BYTES = 1 << 20  # a smaller archive is kept in the batch's row: no file, no fsync (single records)


class _SpillingSink(io.RawIOBase):
    """Parquet bytes held in memory until they pass `INLINE_BYTES`, then written to the partial file."""

    def __init__(self, partial: Path):
        super().__init__()
        self.partial = partial
        self.memory: io.BytesIO | None = io.BytesIO()
        self.file = None
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.memory is not None and self.memory.tell() + len(data) > INLINE_BYTES:
            self.file = open(self.partial, "wb")  # noqa: SIM115 - kept open across writes, closed by the writer
            self.file.write(self.memory.getbuffer())
            self.memory = None
        (self.memory if self.memory is not None else self.file).write(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position


class ArchiveWriter:
    """Appends chunks to the batch's Parquet archive; `close()` publishes it: the bytes themselves for
    a small batch (kept in the database), else `<batch>.parquet`, fsynced, renamed from `.partial`."""

    def __init__(self, folder: Path, batch_id: str):
        self.folder = folder
        self.path = folder / f"{batch_id}.parquet"
        self.partial = folder / f"{batch_id}.parquet.partial"
        self._sink: _SpillingSink | None = None
        self._writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.schema = table.schema
            self._sink = _SpillingSink(self.partial)
            # Dictionaries only where values repeat (categories, codes); zstd at its fastest level.
            repeated = [f.name for f in table.schema if f.name not in ("row", "loan_id", "probability")
                        and not pa.types.is_floating(f.type)]
            self._writer = pq.ParquetWriter(self._sink, table.schema, compression="zstd", compression_level=1,
                                            use_dictionary=repeated)
        elif table.schema != self.schema:
            raise ValueError("a chunk's columns differ from the batch's first chunk")
        self._writer.write_table(table, row_group_size=1_000_000)

    def close(self) -> tuple[Path | None, bytes | None]:
        """(the file, None) or (None, the bytes). An empty batch still gets an (empty) archive."""
        if self._writer is None:
            self.write(normalise(pa.table({name: pa.array([], kind) for name, kind in FIXED.items()})))
        self._writer.close()
        sink = self._sink
        if sink.memory is not None:
            return None, sink.memory.getvalue()
        sink.file.flush()
        os.fsync(sink.file.fileno())  # the record must survive a crash once the database says complete
        sink.file.close()
        os.replace(self.partial, self.path)
        return self.path, None

    def abandon(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, ValueError):
                pass
        if self._sink is not None and self._sink.file is not None:
            self._sink.file.close()
        self.partial.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)  # published, but the transaction did not commit


def source(path: str | None, data: bytes | None):
    """What `read` and `pq.ParquetFile` open: the file, or the bytes kept in the database."""
    return pa.BufferReader(data) if data is not None else path


def read(where, rows: list[int] | None = None) -> pa.Table:
    """A batch's decisions (`where` from `source`), or only the given row numbers."""
    if rows is None:
        return pq.read_table(where)
    wanted = pa.array(sorted(rows), pa.int64())
    low, high = wanted[0].as_py(), wanted[-1].as_py()
    with pq.ParquetFile(where) as parquet:
        column = parquet.schema_arrow.get_field_index("row")
        groups = [g for g in range(parquet.num_row_groups)
                  if _may_hold(parquet.metadata.row_group(g).column(column).statistics, low, high)]
        table = parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
    return table.filter(pc.is_in(table["row"], wanted))


def _may_hold(statistics, low: int, high: int) -> bool:
    """Row groups are in row order: skip those whose row numbers lie outside the wanted ones."""
    if statistics is None or not statistics.has_min_max:
        return True
    return statistics.max >= low and statistics.min <= high
