"""The records store: one immutable archive per batch, written under a temporary name and renamed
when the batch completes, so no reader ever sees a partial archive. By size: a batch of a few
decisions in one chunk (a single record) is kept in the batch's row as JSON of its columns
(`FewDecisions`: building Arrow arrays and an IPC stream for one row cost more than the rest of its
record); under 1 MiB (small files) in the row as an Arrow IPC stream (a file and its fsync would
cost a small request milliseconds); up to 32 MiB it is an Arrow IPC file (no
encoding to pay); beyond, an Arrow IPC file compressed with zstd, written chunk by chunk (a quarter
of the size, for twice the time of an uncompressed one, and less than half Parquet's). Archives
written before that are Parquet files, which every reader here still reads.

The store is a folder (`RECORDS_URL`, by default `records/` in the instance folder) or any fsspec
URL (`memory://`, `s3://…`); it must outlive the 24-hour result files and be shared by every worker
and host that records. A batch row names its archive relative to the store (`stored_name`), so the
store and the instance folder can move: `locate` finds it under the store as configured now, and
takes the absolute paths that rows written before kept as they are."""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import ipc

from webapp.utils.caching import per_object

FIXED = {"row": pa.int64(), "loan_id": pa.string(), "status": pa.string(), "probability": pa.float64(),
         "error": pa.string(), "reason_codes": pa.list_(pa.string()),
         "reason_contributions": pa.list_(pa.float64())}
OPTIONAL = {"action": pa.string()}  # absent from archives written before it (see `action_of`)
INPUT_PREFIX = "input."
APPROVED, DECLINED = "Y", "N"


def store_folder(store, database_url: str | None = None) -> Path | str:
    """The store's root: `store` when given (a path, a `file://` URL, or another fsspec URL, kept as
    text), else beside a SQLite file."""
    return _store_folder(None if store is None else str(store), database_url)


@functools.lru_cache(maxsize=64)
def _store_folder(store: str | None, database_url: str | None) -> Path | str:
    """`store_folder`, made once per setting: a path is made for every batch recorded."""
    if store is not None:
        return store.rstrip("/") if is_url(store) else Path(store.removeprefix("file://"))
    if database_url and database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        return Path(database_url[len("sqlite:///"):]).parent / "records"
    raise ValueError("the records store is not set: pass store= (RECORDS_URL)")


def is_url(location) -> bool:
    """Whether `location` is on another filesystem than this machine's (`memory://`, `s3://`)."""
    scheme, separator, _ = str(location).partition("://")
    return bool(separator) and scheme != "file"


def stored_name(path: Path | str | None, root: Path | str) -> str | None:
    """What a batch row keeps of its archive at `path` in the store `root`: the name relative to the
    root (POSIX separators), so moving the store breaks nothing; a location outside it, whole."""
    if path is None:
        return None
    if is_url(path):
        prefix = f"{str(root).rstrip('/')}/"
        return str(path).removeprefix(prefix) if is_url(root) and str(path).startswith(prefix) else str(path)
    try:
        return Path(path).relative_to(root).as_posix()
    except (TypeError, ValueError):
        return str(path)


def locate(stored: str | None, store, database_url: str | None = None) -> str | None:
    """Where the archive a batch row names is now: a relative name under the store as configured
    today (`store` and `database_url` as the `Recorder` takes them); a URL as it is. An absolute
    path (rows written before names were relative) as it is while the file is there; once the store
    has moved, the same file name under the store (names are batch ids: unique, and verify checks
    the content)."""
    if stored is None:
        return None
    if is_url(stored):
        return stored
    if Path(stored).is_absolute():
        if os.path.exists(stored):
            return stored
        try:
            return _under(store_folder(store, database_url), Path(stored).name)
        except ValueError:  # no store to look in: the path as it is (verify says the archive is missing)
            return stored
    return _under(store_folder(store, database_url), stored)


def _under(root: Path | str, name: str) -> str:
    return f"{root}/{name}" if is_url(root) else str(root / name)


def _filesystem(location: str):
    """(path, filesystem) for pyarrow: a local path as it is, a URL through fsspec."""
    if not is_url(location):
        return location, None
    import fsspec

    filesystem, path = fsspec.core.url_to_fs(location)
    return path, filesystem


def normalise(table: pa.Table) -> pa.Table:
    """The stored schema: the fixed columns with their types, then the inputs (numbers float64, the
    rest text), so equal decisions always serialise, and hash, the same."""
    return _normalised(table, _NORMAL, keep_codes=False)


def stored(table: pa.Table) -> pa.Table:
    """`normalise`, except that text columns which come dictionary-encoded stay so (int32 codes): the
    archive writer's form of a large chunk (see TEXT_CODES). Expanding them is left to the readers."""
    return _normalised(table, _STORED, keep_codes=True)


_NORMAL: set[pa.Schema] = set()  # schemas normalise returns unchanged (a process sees a handful)
_STORED: set[pa.Schema] = set()  # the same, for `stored`
# How the archive keeps text that repeats (statuses, actions, reason codes, the monitored attributes
# as given): dictionary-encoded, as the chunks come. A million decisions: 105 MB of Arrow data
# instead of 163, compressed in 0.15 s instead of 0.25, 16 MB on disk instead of 38 (measured
# alone). Every reader gives the text back (`as_text`), so what is read, replayed, exported and
# hashed is what an archive of plain text gives; the digest reads the values, not the encoding.
TEXT_CODES = pa.dictionary(pa.int32(), pa.string())
TEXT_LIST = pa.list_(pa.string())
IPC_OPTIONS = {"emit_dictionary_deltas": True}  # a batch's dictionaries only grow (`_Dictionaries`)


def _normalised(table: pa.Table, seen: set[pa.Schema], keep_codes: bool) -> pa.Table:
    if table.schema in seen:  # a layout already seen to come out as it went in: nothing to do
        return table
    missing = [name for name in FIXED if name not in table.column_names]
    if missing:
        raise ValueError(f"decisions lack the columns {missing}")

    def to(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
        if keep_codes and kind == pa.string() and _is_text_codes(column.type):
            return _as(column, TEXT_CODES)
        if keep_codes and kind == TEXT_LIST and _is_text_code_list(column.type):
            return _as(column, pa.list_(TEXT_CODES))
        return _as(column, kind)

    columns = {name: to(table[name], kind) for name, kind in FIXED.items()}
    columns |= {name: to(table[name], kind) for name, kind in OPTIONAL.items() if name in table.column_names}
    for name in table.column_names:
        if name.startswith(INPUT_PREFIX):
            column = table[name]
            numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
            columns[name] = to(column, pa.float64() if numeric else pa.string())
    normal = pa.table(columns)
    if normal.schema == table.schema and len(seen) < 64:
        seen.add(table.schema)
    return normal


def _as(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """Cast only what is not already `kind`: a cast to the same type still costs a call per column."""
    return column if column.type == kind else column.cast(kind)


def _is_text_codes(kind: pa.DataType) -> bool:
    return pa.types.is_dictionary(kind) and (pa.types.is_string(kind.value_type)
                                             or pa.types.is_large_string(kind.value_type))


def _is_text_code_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) and _is_text_codes(kind.value_type)


def as_text(table: pa.Table) -> pa.Table:
    """An archive's table with its dictionary-encoded text expanded: the stored schema readers know."""
    plain = text_schema(table.schema)
    return table if plain is table.schema else table.cast(plain)


@functools.lru_cache(maxsize=64)
def text_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with text codes as text (the same object when it has none)."""
    if not any(_is_text_codes(f.type) or _is_text_code_list(f.type) for f in schema):
        return schema
    kinds = [pa.string() if _is_text_codes(f.type) else TEXT_LIST if _is_text_code_list(f.type) else f.type
             for f in schema]
    return pa.schema([f.with_type(kind) for f, kind in zip(schema, kinds)], metadata=schema.metadata)


class _Dictionaries:
    """Each dictionary-encoded column's values so far in one batch. An Arrow IPC file holds one
    dictionary per column, which may grow (a delta) but never change; each chunk's own dictionary
    (a CSV chunk's categories as given) is mapped into the batch's, new values appended, its codes
    renumbered. A chunk whose column came as plain text is encoded against the batch's values."""

    def __init__(self):
        self._values: dict[str, pa.Array] = {}

    def conform(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        """`table` in exactly `schema`'s types (the batch's first chunk's), dictionaries extended."""
        if table.schema.names != schema.names:
            raise ValueError("a chunk's columns differ from the batch's first chunk")
        columns = []
        for field, column in zip(schema, table.columns):
            if field.type == TEXT_CODES:
                column = self._codes(field.name, column)
            elif _is_text_code_list(field.type):
                column = self._list_codes(field.name, column)
            elif column.type != field.type:
                column = column.cast(field.type)  # the batch began as text: it stays text
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=schema)

    def _codes(self, name: str, column) -> pa.Array:
        array = _one_array(column)
        if not pa.types.is_dictionary(array.type):
            array = pc.dictionary_encode(array.cast(pa.string()))
        given = array.dictionary if array.dictionary.type == pa.string() else array.dictionary.cast(pa.string())
        known = self._values.get(name)
        if known is None or (len(given) <= len(known) and given.equals(known.slice(0, len(given)))):
            known = self._values.setdefault(name, given)  # the first chunk's, or a prefix of the batch's
            # safe=False: the codes index `given`, so `known` too (checking a million costs milliseconds)
            return pa.DictionaryArray.from_arrays(_int32(array.indices), known, safe=False)
        # In C, whatever the number of values (a hostile file may give every row its own).
        positions = pc.index_in(given, value_set=known)
        new = pc.is_null(positions)
        if pc.any(new).as_py():
            known = self._values[name] = pa.concat_arrays([known, pc.unique(given.filter(new))])
            positions = pc.index_in(given, value_set=known)
        return pa.DictionaryArray.from_arrays(_int32(pc.take(positions, array.indices)), known, safe=False)

    def _list_codes(self, name: str, column) -> pa.Array:
        array = _one_array(column)
        # `values` is the whole child array and `offsets` point into it, sliced or not.
        return pa.ListArray.from_arrays(array.offsets, self._codes(f"{name}[]", array.values),
                                        mask=array.is_null() if array.null_count else None)


def _one_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A chunk's column as one array, without copying the usual single chunk."""
    if isinstance(column, pa.Array):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _int32(indices: pa.Array) -> pa.Array:
    return indices if indices.type == pa.int32() else indices.cast(pa.int32())


@dataclass(frozen=True)
class FewDecisions:
    """A few decisions (up to `FEW_ROWS`) as Python lists in the stored schema: `values[name]` for
    each field of `schema`, exactly `to_table().to_pydict()`. A single record's row is made this
    way (`webapp.service.recording.few_decision_rows`); the digest reads the lists, and a batch of
    this one chunk is kept as JSON, so no Arrow array is built for it at all."""

    schema: pa.Schema
    values: dict[str, list]

    @property
    def num_rows(self) -> int:
        return len(self.values["row"])

    def to_table(self) -> pa.Table:
        return pa.Table.from_pydict(self.values, schema=self.schema)


JSON_FORMAT = "decisions-json-1"  # the inline JSON archive: {"format", "fields": [[name, type]], "columns"}
_JSON_TYPES = {str(kind): kind for kind in (pa.int64(), pa.float64(), pa.string(), pa.list_(pa.string()),
                                            pa.list_(pa.float64()))}
# Floats as Python's repr (exact); a NaN or infinity, which no stored column should hold, as JavaScript's
# names, which json reads back, rather than failing the record.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@per_object  # hashing a schema costs 17 us: cached by identity (a layout's schema is made once)
def _json_head(schema: pa.Schema) -> tuple[str, list[str]]:
    """The inline JSON up to its columns' values, and the columns' names, made once per layout."""
    fields = []
    for field in schema:
        if str(field.type) not in _JSON_TYPES:
            raise TypeError(f"column {field.name!r} has type {field.type}, which the record does not store")
        fields.append([field.name, str(field.type)])
    return f'{{"format":"{JSON_FORMAT}","fields":{_JSON.encode(fields)},"columns":', schema.names


def few_to_json(decisions: FewDecisions) -> bytes:
    head, names = _json_head(decisions.schema)
    values = decisions.values
    return (head + _JSON.encode([values[name] for name in names]) + "}").encode()


def _is_json(data: bytes) -> bool:
    return data[:1] == b"{"  # an IPC stream starts with its continuation marker, 0xFFFFFFFF


class ArchiveUnreadable(OSError):
    """An archive that does not read as one (changed or cut short): as missing as a removed file."""


def _json_table(data: bytes) -> pa.Table:
    try:
        document = json.loads(data)
        if document.get("format") != JSON_FORMAT:
            raise ArchiveUnreadable(f"an inline archive of the unknown format {str(document.get('format'))[:40]!r}")
        schema = pa.schema([(name, _JSON_TYPES[kind]) for name, kind in document["fields"]])
        return pa.Table.from_arrays([pa.array(column, type=field.type) for column, field in
                                     zip(document["columns"], schema, strict=True)], schema=schema)
    except (ValueError, KeyError, TypeError, AttributeError, pa.ArrowException) as exc:
        raise ArchiveUnreadable(f"the inline archive does not read ({type(exc).__name__})") from None


def action_of(record: dict) -> str | None:
    """A decision's action; an archive older than the column gives it from the status (a decline
    then, never `incomplete`, which those batches did not tell apart)."""
    if record.get("action"):
        return record["action"]
    return {APPROVED: "approve", DECLINED: "decline"}.get(record.get("status"))


FEW_ROWS = 64  # chunks up to this size are sized by their buffers (see `ArchiveWriter.write`)
INLINE_BYTES = 1 << 20  # a smaller batch is kept in its database row: no file, no fsync (single records)
# Up to this, a batch's archive is an uncompressed Arrow IPC file: written in about a millisecond per
# 10k rows, where Parquet's encoding took 8 ms (measured). Larger batches' IPC files are compressed:
# a million decisions (163 MB of Arrow data) took 0.26 s and 38 MB with zstd-1, 0.58 s and 12 MB as
# Parquet, 0.07 s and 163 MB uncompressed (measured alone, one run) - with their repeated text as
# dictionaries (TEXT_CODES), 105 MB of Arrow data: 0.15 s and 16 MB with zstd-1.
ARROW_FILE_BYTES = 32 << 20
ARROW_SUFFIX = ".arrow"
LARGE_COMPRESSION = pa.Codec("zstd", 1)
LARGE_FORMAT = "arrow"  # past ARROW_FILE_BYTES; "parquet" writes what batches recorded before did


class ArchiveWriter:
    """Collects a batch's chunks. Up to `INLINE_BYTES` of Arrow data they stay in memory and `close()`
    gives them back as an Arrow IPC stream (microseconds to write, kept in the database); up to
    `ARROW_FILE_BYTES` they go, as they come, to the IPC file `<batch>.arrow.partial`, its pages sent
    to disk at once without waiting (so that `close()`'s fsync finds little left to write), and stay
    in memory; past that the file is started again, compressed, from those chunks, and the rest
    follow as they come. A file is fsynced and renamed into place (in a store behind a URL: closed
    and moved, the nearest an object store has)."""

    def __init__(self, folder: Path | str, batch_id: str):
        self.folder = folder
        self.batch_id = batch_id
        self.schema: pa.Schema | None = None
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._file = None
        self._writer: pq.ParquetWriter | ipc.RecordBatchFileWriter | None = None
        self._large: tuple[Path | str, Path | str] | None = None  # (partial, final) of a streamed archive
        self._middling: ipc.RecordBatchFileWriter | None = None  # the uncompressed file, up to ARROW_FILE_BYTES
        self._middling_chunks = 0  # of the pending chunks, how many that file holds
        self._dictionaries = _Dictionaries()

    # The file names, made only when a file is written (a single record's archive never is).
    path = property(lambda self: self._in_folder(f"{self.batch_id}.parquet"))
    partial = property(lambda self: self._in_folder(f"{self.batch_id}.parquet.partial"))
    arrow_path = property(lambda self: self._in_folder(f"{self.batch_id}{ARROW_SUFFIX}"))
    arrow_partial = property(lambda self: self._in_folder(f"{self.batch_id}{ARROW_SUFFIX}.partial"))

    @property
    def remote(self) -> bool:
        return is_url(self.folder)

    def _in_folder(self, name: str) -> Path | str:
        return f"{self.folder}/{name}" if self.remote else self.folder / name

    def write(self, table: pa.Table | FewDecisions) -> None:
        if self.schema is None:
            self.schema = table.schema
        elif isinstance(table, FewDecisions) and table.schema != self.schema:
            table = table.to_table()  # a few last rows of a batch whose text is dictionary-encoded
        if isinstance(table, pa.Table):
            table = self._dictionaries.conform(table, self.schema)  # the first chunk's types and names
        elif table.schema != self.schema:
            raise ValueError("a chunk's columns differ from the batch's first chunk")
        if self._pending and isinstance(self._pending[0], FewDecisions):
            self._write_table(self._pending.pop().to_table())  # a second chunk: the batch is kept in Arrow
        if isinstance(table, FewDecisions):
            if self._writer is None and not self._pending:
                self._pending.append(table)  # kept as JSON, unless another chunk follows
                return
            table = table.to_table()
        self._write_table(table)

    def _write_table(self, table: pa.Table) -> None:
        if self._writer is None:
            self._pending.append(table)
            # A few rows' buffers are their own (made from lists), so their total size is exact and
            # costs nothing; `nbytes` walks every column (55 us for one record's row), but counts
            # only the rows of a slice, where the buffers' total would count the whole file's column.
            self._pending_bytes += table.get_total_buffer_size() if table.num_rows <= FEW_ROWS else table.nbytes
            if self._pending_bytes <= INLINE_BYTES:
                return  # may yet be kept in the batch's row
            if self._pending_bytes <= ARROW_FILE_BYTES:
                self._write_middling()
                return
            self._drop_middling()  # its chunks are still in memory: they go to the compressed file
            self._writer = self._large_writer()
            pending, self._pending = self._pending, []
            for chunk in pending:
                self._write_large(chunk)
            return
        self._write_large(table)

    def _write_middling(self) -> None:
        """Append the chunks not yet in the uncompressed file (all of them when it is new), and have
        the kernel start writing them out while the next chunk is scored and the answer written."""
        if self._middling is None:
            self._file = self._open(self.arrow_partial)
            self._middling = ipc.new_file(self._file, self.schema, options=ipc.IpcWriteOptions(**IPC_OPTIONS))
        for chunk in self._pending[self._middling_chunks:]:
            self._middling.write_table(chunk)
        self._middling_chunks = len(self._pending)
        self._to_disk(wait=False)  # perhaps on the request's thread: the fsync at the end waits instead

    def _drop_middling(self) -> None:
        if self._middling is not None:
            self._middling.close()
            self._file.close()
            self._middling = self._file = None
            remove(str(self.arrow_partial))  # the large writer starts its own file

    def _large_writer(self):
        if LARGE_FORMAT == "parquet":
            self._large = (self.partial, self.path)
            self._file = self._open(self.partial)
            # Dictionaries only where values repeat (categories, codes); zstd at its fastest level;
            # min/max statistics only for `row`, the one column reads prune row groups by.
            repeated = [f.name for f in self.schema if f.name not in ("row", "loan_id", "probability")
                        and not pa.types.is_floating(f.type)]
            return pq.ParquetWriter(self._file, self.schema, compression="zstd", compression_level=1,
                                    use_dictionary=repeated, write_statistics=["row"])
        self._large = (self.arrow_partial, self.arrow_path)
        self._file = self._open(self.arrow_partial)
        # Compressed on the writer's thread alone: with Arrow's pool (use_threads), zstd ran on both
        # cores and took the scoring thread's core too (a million rows: 45% -> 38% overhead, measured).
        return ipc.new_file(self._file, self.schema, options=ipc.IpcWriteOptions(
            compression=LARGE_COMPRESSION, use_threads=False, **IPC_OPTIONS))

    def _write_large(self, table: pa.Table) -> None:
        if isinstance(self._writer, pq.ParquetWriter):
            self._writer.write_table(table, row_group_size=1_000_000)
        else:
            self._writer.write_table(table)
        # On the writer's own thread: waiting there, `close()` on the request's path then syncs the
        # last chunk only (a million rows: 40-50 ms less, measured).
        self._to_disk(wait=True)

    def _to_disk(self, wait: bool) -> None:
        """Send the file's pages written so far to disk while the next chunk is scored: waiting for
        them (fdatasync) or not (`start_writeback`). An object store's file has no such call."""
        if self.remote:
            return
        self._file.flush()
        if wait:
            os.fdatasync(self._file.fileno())
        else:
            start_writeback(self._file.fileno())

    def _open(self, partial: Path | str):
        if self.remote:
            filesystem = _filesystem(self.folder)[1]
            filesystem.makedirs(self.folder, exist_ok=True)
            return filesystem.open(partial, "wb")
        self.folder.mkdir(parents=True, exist_ok=True)
        return open(partial, "wb")  # noqa: SIM115 - kept open across chunks, closed in close()

    def close(self) -> tuple[Path | str | None, bytes | None]:
        """(the file, None) or (None, the IPC bytes). An empty batch gets an empty archive."""
        if self._pending and isinstance(self._pending[0], FewDecisions):
            data = few_to_json(self._pending[0])
            if len(data) <= INLINE_BYTES:
                return None, data
            self._write_table(self._pending.pop().to_table())  # long texts: kept as any other batch
        if self._writer is None:
            if self._middling is not None:
                self._middling.close()  # its chunks are written: the footer
                return self._publish(self.arrow_partial, self.arrow_path), None
            sink = pa.BufferOutputStream()
            with ipc.new_stream(sink, self.schema or empty().schema,
                                options=ipc.IpcWriteOptions(**IPC_OPTIONS)) as stream:
                for chunk in self._pending:
                    stream.write_table(chunk)
            return None, sink.getvalue().to_pybytes()
        self._writer.close()
        return self._publish(*self._large), None

    def _publish(self, partial: Path | str, path: Path | str) -> Path | str:
        if self.remote:
            self._file.close()
            _filesystem(self.folder)[1].mv(partial, path)
            return path
        self._file.flush()
        os.fsync(self._file.fileno())  # the record must survive a crash once the database says complete
        self._file.close()
        os.replace(partial, path)
        sync_folder(self.folder)  # and so must its name: a rename is durable only once its folder is synced
        return path

    def mark_in_doubt(self) -> None:
        """Beside a published archive whose batch may or may not have committed: `<id>.in-doubt`,
        so the records purge (`services.sweep_strays`) removes the archive unless the batch is there."""
        if self._large is None and self._middling is None:  # kept in its row (or nothing written): no file
            return
        mark = self._in_folder(f"{self.batch_id}.in-doubt")
        if self.remote:
            path, filesystem = _filesystem(str(mark))
            filesystem.pipe_file(path, b"")
        else:
            Path(mark).touch()

    def stored_name(self, path: Path | str | None) -> str | None:
        """What the batch row keeps of the archive `close()` published: see `stored_name`."""
        return stored_name(path, self.folder)

    def abandon(self, keep_published: bool = False) -> None:
        """Close and remove what was written. `keep_published`: the archive under its final name stays
        (its batch may be in the database) and only the partial files go."""
        if self._middling is not None:
            try:
                self._middling.close()
            except (OSError, ValueError, pa.ArrowException):
                pass
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, ValueError):
                pass
        if self._file is not None:
            self._file.close()
        # The published ones too, unless their batch may have committed.
        for location in ((self.partial, self.arrow_partial) if keep_published else
                         (self.partial, self.path, self.arrow_partial, self.arrow_path)):
            remove(str(location))


def _writeback():
    """Linux's sync_file_range, or None: start writing a file's dirty pages to disk, not waiting."""
    import ctypes
    import ctypes.util

    try:
        call = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return call


_SYNC_FILE_RANGE = _writeback()
SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int) -> None:
    """Have the kernel start writing the file's pages out now (RocksDB's and PostgreSQL's trick): a
    later fsync then waits for little. A no-op where the call does not exist; never a durability
    step of its own (the fsync before publishing is)."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, SYNC_FILE_RANGE_WRITE)


def sync_folder(folder: Path) -> None:
    """fsync a folder, making the names created or renamed in it durable (POSIX leaves them in the
    page cache until then: after a crash the database could name an archive still under its
    `.partial` name). About 0.15 ms after the archive's own fsync (measured on ext4). A no-op where
    folders cannot be opened (Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    except OSError as exc:
        # Some filesystems (CIFS, some FUSE and container mounts) cannot sync a folder: as
        # PostgreSQL's fsync_fname, that is no fault of the archive's, whose own fsync succeeded.
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(descriptor)


def remove(location: str) -> None:
    """Delete an archive, if it is there."""
    path, filesystem = _filesystem(location)
    if filesystem is None:
        Path(path).unlink(missing_ok=True)
    elif filesystem.exists(path):
        filesystem.rm(path)


def empty() -> pa.Table:
    return normalise(pa.table({name: pa.array([], kind) for name, kind in FIXED.items()}))


def chunks(location: str | None, data: bytes | None, columns: list[str] | None = None):
    """A batch's decisions chunk by chunk (Parquet row groups, IPC record batches), their text as
    text. `location` is where the archive is (`locate`), not what the batch row names."""
    for chunk in _chunks(location, data, columns):
        yield as_text(chunk)


def _chunks(location: str | None, data: bytes | None, columns: list[str] | None = None):
    if data is not None and _is_json(data):
        table = _json_table(data)
        yield table.select(columns) if columns else table
        return
    if data is not None:
        for batch in ipc.open_stream(data):
            yield pa.Table.from_batches([batch]).select(columns) if columns else pa.Table.from_batches([batch])
        return
    if is_arrow_file(location):
        with _arrow_file(location, columns) as reader:
            for number in range(reader.num_record_batches):
                table = pa.Table.from_batches([reader.get_batch(number)])
                yield table.select(columns) if columns else table
        return
    path, filesystem = _filesystem(location)
    with pq.ParquetFile(path, filesystem=filesystem) as parquet:
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group, columns=columns)


def read(location: str | None, data: bytes | None, rows: list[int] | None = None,
         columns: list[str] | None = None) -> pa.Table:
    """A batch's decisions, or only the given row numbers (IPC files filtered chunk by chunk, Parquet
    row groups skipped by their stats), their text as text."""
    return as_text(_read(location, data, rows, columns))


def _read(location: str | None, data: bytes | None, rows: list[int] | None = None,
          columns: list[str] | None = None) -> pa.Table:
    if data is not None:
        table = _json_table(data) if _is_json(data) else ipc.open_stream(data).read_all()
        table = table.select(columns) if columns else table
    elif is_arrow_file(location):
        if rows is not None:
            return _ipc_rows(location, sorted(rows), columns)
        with _arrow_file(location, columns) as reader:
            table = reader.read_all()
        return table.select(columns) if columns else table
    elif rows is None:
        path, filesystem = _filesystem(location)
        return pq.read_table(path, columns=columns, filesystem=filesystem)
    else:
        table = _row_groups(location, rows)
    if rows is None:
        return table
    return table.filter(pc.is_in(table["row"], pa.array(sorted(rows), pa.int64())))


def schema(location: str | None, data: bytes | None) -> pa.Schema:
    """What a read of the archive gives (text as text, however it is stored)."""
    return text_schema(_schema(location, data))


def _schema(location: str | None, data: bytes | None) -> pa.Schema:
    if data is not None:
        return _json_table(data).schema if _is_json(data) else ipc.open_stream(data).schema
    if is_arrow_file(location):
        with _arrow_file(location) as reader:
            return reader.schema
    path, filesystem = _filesystem(location)
    return pq.read_schema(path, filesystem=filesystem)


def is_arrow_file(location: str | None) -> bool:
    return location is not None and str(location).endswith(ARROW_SUFFIX)


@contextlib.contextmanager
def _arrow_file(location: str, columns: list[str] | None = None):
    """An archive's IPC file reader, through fsspec behind a URL; with `columns`, one that reads
    (and decompresses) only those: the index is rebuilt from two of a batch's twenty. Read, not
    memory-mapped: what is read must not change if the file is replaced or removed (a purge)
    while it is still in use."""
    path, filesystem = _filesystem(location)
    with (pa.OSFile(str(path)) if filesystem is None else filesystem.open(path, "rb")) as source:
        reader = ipc.open_file(source)
        fields = [reader.schema.get_field_index(name) for name in columns or ()]
        if fields and min(fields) >= 0:  # a column the file lacks: read it whole, as before, and fail there
            reader = ipc.open_file(source, options=ipc.IpcReadOptions(included_fields=sorted(fields)))
        yield reader


def _ipc_rows(location: str, rows: list[int], columns: list[str] | None) -> pa.Table:
    """The given rows of an IPC file, record batch by record batch (each a chunk): a lookup holds
    one chunk at a time, never the whole decompressed batch."""
    wanted, found = pa.array(rows, pa.int64()), []
    with _arrow_file(location) as reader:
        schema = reader.schema
        for number in range(reader.num_record_batches):
            batch = reader.get_batch(number)
            found.append(batch.filter(pc.is_in(batch.column("row"), wanted)))
    table = pa.Table.from_batches(found, schema=schema)
    return table.select(columns) if columns else table


def _row_groups(location: str, rows: list[int]) -> pa.Table:
    low, high = min(rows), max(rows)
    path, filesystem = _filesystem(location)
    with pq.ParquetFile(path, filesystem=filesystem) as parquet:
        column = parquet.schema_arrow.get_field_index("row")
        groups = [g for g in range(parquet.num_row_groups)
                  if _may_hold(parquet.metadata.row_group(g).column(column).statistics, low, high)]
        return parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()


def _may_hold(statistics, low: int, high: int) -> bool:
    """Row groups are in row order: skip those whose row numbers lie outside the wanted ones."""
    if statistics is None or not statistics.has_min_max:
        return True
    return statistics.max >= low and statistics.min <= high
