"""The service's side of the decision record: what a batch says of itself before scoring
(`start_batch`), and each scored chunk as the record's rows (`decision_rows`)."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import getpass
import logging
import os
import hashlib
import io
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.exc import SQLAlchemyError

from webapp.core import table as tables
from webapp.core.contract import ID_COLUMN, cell_text
from webapp.core.errors import DatabaseUnavailable, fault_reason
from webapp.core.reasons import ACTIONS, REASONS
from webapp.core.results import ScoredChunk, as_objects
from webapp.records import BatchStart, Recorder
from webapp.records.archive import FewDecisions
from webapp.service.options import ScoringOptions
from webapp.utils.threads import Background

log = logging.getLogger(__name__)
_REASON_CODES = pa.array([r.code for r in REASONS], type=pa.string())
_REASON_TEXTS = _REASON_CODES.to_pylist()
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Caller:
    """Who asks, and through which door: the signed-in user or key's owner (`anonymous` before
    accounts, the OS user for the CLI) and the channel (`api`, `page`, `cli`, `job`)."""

    actor: str
    channel: str

    @classmethod
    def command_line(cls) -> "Caller":
        try:
            return cls(getpass.getuser(), "cli")
        except (KeyError, OSError):
            return cls("unknown", "cli")


THREADED_HASH_BYTES = 8 << 20  # an input file on disk larger than this is hashed on a thread as it is scored
HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class InputFile:
    name: str
    sha256: str
    size: int

    @classmethod
    def of(cls, source: BinaryIO | bytes, name: str) -> "InputFile | HashingInputFile":
        """Hash the input where it lies (a seekable upload or bytes), leaving it at its start. A
        large file on disk is hashed on a native thread while it is scored, by positional reads of
        a duplicate of its descriptor (the position scoring reads from never moves): on the
        request's thread its SHA-256 cost a million-row upload 48 ms before the first row."""
        if isinstance(source, bytes | bytearray | memoryview):
            return cls(name, hashlib.sha256(source).hexdigest(), len(source))
        descriptor = _descriptor(source)
        if descriptor is not None:
            size = os.fstat(descriptor).st_size
            if size > THREADED_HASH_BYTES:
                return HashingInputFile(name, size, Background(_hash_descriptor, os.dup(descriptor), size))
        digest, size = hashlib.sha256(), 0
        source.seek(0)
        for block in iter(lambda: source.read(HASH_BLOCK), b""):
            digest.update(block)
            size += len(block)
        source.seek(0)
        return cls(name, digest.hexdigest(), size)


class HashingInputFile:
    """A large input's identity while its SHA-256 is computed: `sha256` waits for it (the record
    asks once the batch is scored)."""

    def __init__(self, name: str, size: int, hashing: Background):
        self.name, self.size, self._hashing = name, size, hashing

    @property
    def sha256(self) -> str:
        return self._hashing.result()


def _descriptor(source) -> int | None:
    """The descriptor of an input file on disk, its written bytes flushed to it; None for one in
    memory (a spooled upload not rolled over to disk is never made to by asking)."""
    if isinstance(source, tempfile.SpooledTemporaryFile) and not source._rolled:
        return None
    try:
        source.flush()
        return source.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _hash_descriptor(descriptor: int, size: int) -> str:
    """SHA-256 of the first `size` bytes behind `descriptor`, which it closes (hashlib lets go of the
    GIL for each block, so this overlaps scoring on the other core)."""
    digest = hashlib.sha256()
    try:
        offset = 0
        while offset < size:
            block = os.pread(descriptor, min(HASH_BLOCK, size - offset), offset)
            if not block:
                break
            digest.update(block)
            offset += len(block)
    finally:
        os.close(descriptor)
    return digest.hexdigest()


@contextlib.contextmanager
def _faults_as_answers():
    """The record is written or nothing is answered: a database or disk fault is a 503, not a 500."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable("The decision record cannot be written right now "
                                  f"({type(exc.orig or exc).__name__}); no decision was given. Try again later.") from None
    except OSError as exc:
        reason = fault_reason(exc)
        raise DatabaseUnavailable(f"The decision record cannot be written right now ({reason}); the batch was "
                                  "marked failed and nothing was answered. Try again later.") from None


def _known_sha256(source) -> str:
    """The input's SHA-256 if known when the batch opens; a large input's comes at its end."""
    return "" if isinstance(source, HashingInputFile) else source.sha256


def dataset_input(urls: list[str], location: str) -> InputFile:
    """A dataset's identity: its parts' SHA-256s (in part order) hashed together, and their total size."""
    import fsspec

    digest, size = hashlib.sha256(), 0
    for url in urls:
        # A plain existing path is read literally ("[1]" is no glob), as the engines read it.
        with (open(url, "rb") if os.path.isfile(url) else fsspec.open(url, "rb")) as part:
            one = InputFile.of(part, url)
        digest.update(bytes.fromhex(one.sha256))
        size += one.size
    return InputFile(location if len(urls) > 1 else Path(location).name, digest.hexdigest() if len(urls) > 1
                     else one.sha256, size)


def records_store(config, instance_path: str) -> str:
    """Where the decision archives go: `RECORDS_URL`, else `instance/records`."""
    return config.get("RECORDS_URL") or os.path.join(instance_path, "records")  # per request: no Path made


class BatchRecording:
    """A Recorder fed scored chunks: the service's `Recorder` protocol over `webapp.records`."""

    index_later = True  # a large batch's index is written on a thread once it completes (else: `start_indexing`)

    def __init__(self, database, store, caller: Caller, options: ScoringOptions, model, source: InputFile, *,
                 index_elsewhere=None):
        self.database, self.store, self.index_elsewhere = database, store, index_elsewhere
        self.caller, self.options, self.model, self.source = caller, options, model, source
        self._recorder: Recorder | None = None

    def open(self, input_format: str) -> "BatchRecording":
        start = BatchStart(actor=self.caller.actor, channel=self.caller.channel, purpose=self.options.purpose,
                           input_name=self.source.name, input_sha256=_known_sha256(self.source),
                           input_size=self.source.size, input_format=input_format,
                           options=self.options.to_dict(), model_name=self.model.name,
                           model_version=self.model.version, model_sha256=artifact_sha256(self.model),
                           threshold=float(self.model.threshold), code_version=code_version())
        with _faults_as_answers():
            self._recorder = Recorder(self.database, start, store=self.store, index_elsewhere=self.index_elsewhere)
        return self

    @property
    def batch_id(self) -> str:
        return self._recorder.batch_id

    @property
    def completed(self) -> bool:
        return self._recorder is not None and self._recorder.completed

    def add(self, chunk: ScoredChunk) -> None:
        self.add_rows(few_decision_rows(chunk) if len(chunk) <= tables.SMALL_ROWS else decision_rows(chunk))

    def add_rows(self, rows: pa.Table | FewDecisions) -> None:
        """Rows already in the record's columns (a dataset's parts, written by the engines), or a
        few as lists (`few_decision_rows`)."""
        with _faults_as_answers():
            self._recorder.add(rows)

    def complete(self, report: dict) -> None:
        with _faults_as_answers():
            self._with_input_sha256()
            self._recorder.complete(report, index_later=self.index_later)

    def _with_input_sha256(self) -> None:
        """A large input's SHA-256, computed while it was scored, into the batch before it is written."""
        if isinstance(self.source, HashingInputFile):
            self._recorder.start = dataclasses.replace(self._recorder.start, input_sha256=self.source.sha256)

    def start_indexing(self) -> None:
        if self._recorder is not None:
            self._recorder.start_indexing()

    def wait_indexed(self, timeout: float | None = None) -> None:
        """Wait for an index written on this process's thread (a no-op when there is none)."""
        if self._recorder is not None:
            self._recorder.wait_indexed(timeout)

    def fail(self, reason: str) -> None:
        """Best effort: a batch that cannot even be marked failed leaves no record that looks complete."""
        try:
            if self._recorder is None:
                self.open("unreadable")
            try:
                self._with_input_sha256()
            except OSError:  # the input could not be read to its end: the failed batch names no hash
                pass
            self._recorder.fail(reason)
        except Exception:  # noqa: BLE001 - the original error is what the caller must see
            log.warning("batch could not be marked failed (%s)", reason)


def decision_rows(chunk: ScoredChunk) -> pa.Table:
    """The record's columns for one chunk (see `webapp.records`): row, Loan_ID, status, the unrounded
    probability, the error, each stated reason with its contribution, the action (approve, decline,
    incomplete: what the notices are made from), and the inputs as the model used them
    (`input.<feature>`) beside the monitored attributes as given. Nothing else of the input (no
    name, no address) is ever recorded. Text columns may come as dictionary arrays (a large
    chunk's statuses, actions and inputs, every chunk's reason codes): the record stores them as
    text (`webapp.records.archive.normalise`)."""
    if len(chunk) <= tables.SMALL_ROWS:
        return few_decision_rows(chunk).to_table()
    n = len(chunk)
    valid = np.asarray(chunk.valid, dtype=bool)
    # Column by column in Arrow, never row by row in Python: a million rows cost tens of milliseconds.
    status = chunk.columns["Loan_Status"].codes
    columns = {
        "row": pa.array(np.arange(chunk.first_row, chunk.first_row + n, dtype=np.int64)),
        "loan_id": _text(pd.Series(chunk.columns[ID_COLUMN], copy=False)),
        "status": _dictionary(_STATUSES, status - 1, status < 1),
        "probability": pa.array(chunk.probability, mask=~valid, type=pa.float64()),
        "error": pa.nulls(n, pa.string()) if valid.all() else pa.array(chunk.objects("Error"), mask=valid,
                                                                      type=pa.string()),
        **_reasons(chunk, n),
    }
    if chunk.action is not None:
        actions = np.asarray(chunk.action, dtype=np.int8) - 1
        columns["action"] = _dictionary(_ACTIONS, actions, actions < 0)  # text in `normalise`, as below
    monitored = chunk.monitored or {}
    for name, values in (chunk.features.items() if chunk.features is not None else ()):
        # A monitored attribute is recorded as given, in the decision input's place: not built twice.
        columns[f"input.{name}"] = None if name in monitored else _input_column(values)
    for name, values in monitored.items():
        columns[f"input.{name}"] = _given(values)
    return pa.table(columns)


def few_decision_rows(chunk: ScoredChunk) -> FewDecisions:
    """`decision_rows` of a few rows as Python lists in the stored types, and their schema: the
    record's digest reads the lists, and a batch of one such chunk is kept as JSON, so no Arrow
    array is made (a single record's 22-column table took 0.2 ms to build)."""
    n = len(chunk)
    valid = np.asarray(chunk.valid, dtype=bool).tolist()
    values = {
        "row": list(range(chunk.first_row, chunk.first_row + n)),
        "loan_id": _few_text(chunk.objects(ID_COLUMN)),
        "status": _few_labels(_STATUSES_TEXT, chunk.columns["Loan_Status"].codes - 1),
        "probability": [p if ok else None for p, ok in zip(chunk.probability.tolist(), valid)],
        "error": [None] * n if all(valid) else
        [None if ok else error for error, ok in zip(chunk.objects("Error").tolist(), valid)],
        **_few_reasons(chunk, n),
    }
    if chunk.action is not None:
        values["action"] = _few_labels(_ACTIONS_TEXT, np.asarray(chunk.action, dtype=np.int8) - 1)
    monitored = chunk.monitored or {}
    for name, column in (chunk.features.items() if chunk.features is not None else ()):
        values[f"input.{name}"] = None if name in monitored else _few_input(column)
    for name, column in monitored.items():
        values[f"input.{name}"] = _given_few(column)
    return FewDecisions(_few_schema(tuple(values), _numeric(chunk)), values)


_FIXED_KINDS = {"row": pa.int64(), "loan_id": pa.string(), "status": pa.string(), "probability": pa.float64(),
                "error": pa.string(), "reason_codes": pa.list_(pa.string()),
                "reason_contributions": pa.list_(pa.float64()), "action": pa.string()}


def _numeric(chunk: ScoredChunk) -> tuple[str, ...]:
    """The decision inputs' columns recorded as numbers: those the model takes as floats, not monitored."""
    monitored = chunk.monitored or {}
    return tuple(f"input.{name}" for name, column in (chunk.features.items() if chunk.features is not None else ())
                 if name not in monitored and not isinstance(column.dtype, pd.CategoricalDtype))


@functools.lru_cache(maxsize=64)
def _few_schema(names: tuple[str, ...], numeric: tuple[str, ...]) -> pa.Schema:
    """The stored schema of a layout, made once: one object per layout, which the archive's JSON
    heads are keyed by (names hash fast; a schema, or its types, do not)."""
    return pa.schema([(name, _FIXED_KINDS.get(name) or (pa.float64() if name in numeric else pa.string()))
                      for name in names])


def _few_labels(labels: list[str], codes: np.ndarray) -> list:
    return [labels[code] if code >= 0 else None for code in np.asarray(codes).tolist()]


def _few_input(values) -> list:
    """`_input_column` of a few values, as Python values: text from a Categorical's codes, or
    floats with NaN (missing) as None."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _few_labels(list(values.categories), values.codes)
    return [None if number != number else number for number in np.asarray(values, dtype=np.float64).tolist()]


def _few_reasons(chunk: ScoredChunk, n: int) -> dict:
    if chunk.principal is None:
        return {"reason_codes": [[] for _ in range(n)], "reason_contributions": [[] for _ in range(n)]}
    codes, contributions = [], []
    for principal, contribution in zip(chunk.principal.tolist(), chunk.reason_contribution.tolist()):
        codes.append([_REASON_TEXTS[code] for code in principal if code >= 0])
        contributions.append([value for code, value in zip(principal, contribution) if code >= 0])
    return {"reason_codes": codes, "reason_contributions": contributions}


_STATUSES = pa.array(["N", "Y"])
_STATUSES_TEXT = ["N", "Y"]
_ACTIONS = pa.array(list(ACTIONS[1:]))
_ACTIONS_TEXT = list(ACTIONS[1:])


def _text(values) -> pa.Array:
    """A text column as Arrow strings (zero-copy when it already is Arrow)."""
    array = pa.array(values, from_pandas=True)
    return array if array.type == pa.string() else array.cast(pa.string())


def _given(values) -> pa.Array:
    """A monitored attribute as the input gave it: text, with empty cells as nulls."""
    categorical = values.array if isinstance(values, pd.Series) else values
    if isinstance(categorical, pd.Categorical) and all(type(c) is str for c in categorical.categories):
        return _given_categories(categorical)
    array = _given_text(values)
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def _given_categories(values: pd.Categorical) -> pa.Array:
    """`_given` of text categories (as CSV columns are read): the empty category made null once in
    the codes, instead of comparing every cell's text. A dictionary array: the record's `normalise`
    makes it text, on the archive writer's thread for a large chunk (expanding a million codes into
    strings cost the request thread 0.1 s a column)."""
    categories, codes = values.categories, np.asarray(values.codes)
    missing = codes < 0
    if "" in categories:
        missing |= codes == categories.get_loc("")
    return _dictionary(_labels(categories), codes, missing)


def _dictionary(labels: pa.Array, codes: np.ndarray, missing: np.ndarray) -> pa.Array:
    """`labels[codes]`, null where `missing`, as a dictionary array (int32 indices, text values)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32, copy=False),
                                                   mask=missing if missing.any() else None), labels)


def _labels(categories: pd.Index) -> pa.Array:
    return pa.array(categories.to_numpy(dtype=object), type=pa.string())


def _given_few(values) -> list:
    """`_given` for a few values, as Python values: emptied in Python, where Arrow's compute calls
    cost more than the values. Text categories (a CSV's columns) are read off their codes: making
    the column objects first cost 60 us an attribute, more than the rest of a single record's row."""
    categorical = values.array if isinstance(values, pd.Series) else values
    labels = list(categorical.categories) if isinstance(categorical, pd.Categorical) else None
    if labels is not None and all(type(label) is str for label in labels):
        texts = [labels[code] if code >= 0 else None for code in categorical.codes.tolist()]
    else:
        texts = _few_text(as_objects(values), _given_text)
    return [None if text == "" else text for text in texts]


def _few_text(values, to_arrow=None) -> list:
    """A few cells as the record's text: as they are when every one is text already (an Arrow
    array per column cost 80 us of a single record's row); else through Arrow (`_text`, or
    `to_arrow`), which says how numbers and missing cells are written."""
    cells = values.tolist()
    if all(type(cell) is str for cell in cells):
        return cells
    return (to_arrow or _text)(values).to_pylist()


def _given_text(values) -> pa.Array:
    """The values as Arrow text. JSON may mix kinds in one column (`0` and `"3+"` for Dependents),
    which Arrow cannot type: each value is then written as the cell text validation read."""
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array([None if pd.isna(value) else cell_text(value) for value in np.asarray(values, dtype=object)],
                         type=pa.string())
    if pa.types.is_dictionary(array.type) or array.type != pa.string():
        array = array.cast(pa.string())
    return array


def _reasons(chunk: ScoredChunk, n: int) -> dict:
    if chunk.principal is None:
        empty = pa.array([[]] * n, type=pa.list_(pa.string()))
        return {"reason_codes": empty, "reason_contributions": pa.array([[]] * n, type=pa.list_(pa.float64()))}
    stated = chunk.principal >= 0
    counts = stated.sum(axis=1)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    # A dictionary of the reason codes, which the record's `normalise` expands into text (in C, on
    # the archive writer's thread for a large chunk): an object array of a million code strings
    # was converted one Python string at a time.
    codes = pa.DictionaryArray.from_arrays(pa.array(chunk.principal[stated].astype(np.int32)), _REASON_CODES)
    contributions = pa.array(chunk.reason_contribution[stated], type=pa.float64())
    return {"reason_codes": pa.ListArray.from_arrays(offsets, codes),
            "reason_contributions": pa.ListArray.from_arrays(offsets, contributions)}


def _input_column(values) -> pa.Array:
    """A decision input (a Categorical, or floats with NaN for missing) as Arrow text or floats."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.codes)
        return _dictionary(_labels(values.categories), codes, codes < 0)  # text in `normalise`, as above
    return pa.array(np.asarray(values, dtype=np.float64), from_pandas=True, type=pa.float64())


def artifact_sha256(model) -> str:
    return str(getattr(model, "artifact_sha256", "") or "")


@functools.cache
def code_version() -> str:
    """The package version and, in a git checkout, the commit: which code decided."""
    try:
        version = metadata.version("loan-batch-scoring")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+{commit}" if commit else version
