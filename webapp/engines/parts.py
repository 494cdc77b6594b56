"""A dataset as ordered parts, each scored by the core into a part output, assembled into one answer.

A part is one input file (any fsspec URL). `score_part` is the unit of work of every engine: it reads
the part with the core's reader, scores it chunk by chunk exactly as the service does, and writes
its rows to a part file in the output format (or keeps them, for Excel and JSON answers, which are
assembled in memory). `assemble` joins the part files in part order into the final output, written
under a temporary name and renamed only when complete, so a failed run never leaves a partial file
that looks finished.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import webapp.model.loading  # noqa: F401  (a worker preloading this module imports what unpickling the model needs)
from webapp.core.errors import InputError
from webapp.core.limits import Limits
from webapp.core.results import ScoredChunk
from webapp.core.scoring import Summary
from webapp.core.writing import write_csv, write_parquet, write_records, write_xlsx
from webapp.service import ScoringOptions, open_scoring
from webapp.service.recording import decision_rows

PART_SUFFIXES = (".csv", ".parquet", ".pq", ".txt", ".tsv")
STREAMED_FORMATS = ("csv", "parquet")  # written part by part; Excel and JSON are assembled in memory
OWN_PART = re.compile(r"^part-\d{5}\.(csv|parquet)$")  # the names of the files a folder output gets


class DatasetError(InputError):
    code = "dataset-error"
    title = "The dataset could not be used"


@dataclass(frozen=True)
class Options:
    """A dataset run: the service's scoring options, and the limits of the machine that runs it."""

    scoring: ScoringOptions = field(default_factory=ScoringOptions)
    limits: Limits = field(default_factory=Limits)
    record: bool = False  # each part also writes its decision-record rows (recorded by `dataset`)

    @property
    def fmt(self) -> str:
        return self.scoring.format


@dataclass
class PartResult:
    index: int
    summary: Summary
    path: str | None = None       # the part's output file (CSV, Parquet)
    decisions: str | None = None  # the part's decision-record rows (Parquet), when recording
    frames: list[ScoredChunk] | None = None  # the part's rows (Excel, JSON)


def discover(location: str) -> list[str]:
    """The parts of a dataset in sorted name order: a file, every CSV/Parquet file of a folder, or a glob."""
    import fsspec

    if os.path.exists(location):  # a plain local path, literally: not a glob (`[1]`) nor a chain (`::`)
        return _local_parts(Path(location))
    fs, path = fsspec.core.url_to_fs(location)
    if any(char in path for char in "*?["):
        paths = fs.glob(path)
    elif fs.isdir(path):
        paths = [p for p in fs.ls(path, detail=False) if p.lower().endswith(PART_SUFFIXES)]
    else:
        paths = [path] if fs.exists(path) else []
    paths = sorted(p for p in paths if fs.isfile(p))
    if not paths:
        raise DatasetError(f"No CSV or Parquet parts found at {location}.", code="no-parts")
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return [p if protocol in ("file", "local") else f"{protocol}://{p}" for p in paths]


def _local_parts(path: Path) -> list[str]:
    paths = sorted(p for p in path.iterdir() if p.suffix.lower() in PART_SUFFIXES) if path.is_dir() else [path]
    paths = [str(p.resolve()) for p in paths if p.is_file()]
    if not paths:
        raise DatasetError(f"No CSV or Parquet parts found at {path}.", code="no-parts")
    return paths


def score_part(index: int, url: str, model, options: Options, scratch: str | None) -> PartResult:
    """Score one part; write its rows to `scratch/part-NNNNN.<fmt>` for streamed formats."""
    import fsspec

    with (open(url, "rb") if os.path.isfile(url) else fsspec.open(url, "rb")) as source, \
            _decision_writer(options, scratch, index) as record:
        scoring = open_scoring(source, model, options.scoring, limits=options.limits)
        chunks = _recorded(scoring.chunks(), record)
        decisions = f"{scratch}/part-{index:05d}.decisions.parquet" if options.record else None
        if options.fmt in STREAMED_FORMATS:
            path = f"{scratch}/part-{index:05d}.{options.fmt}"
            with fsspec.open(path, "wb") as out:
                (write_csv if options.fmt == "csv" else write_parquet)(chunks, out)
            return PartResult(index, scoring.summary, path=path, decisions=decisions)
        return PartResult(index, scoring.summary, frames=list(chunks), decisions=decisions)


def _recorded(chunks, record):
    for chunk in chunks:
        if record is not None:
            record(chunk)
        yield chunk


@contextlib.contextmanager
def _decision_writer(options: Options, scratch: str | None, index: int):
    """When recording: a function that appends each chunk's record rows to the part's Parquet file."""
    if not options.record:
        yield None
        return
    import fsspec
    import pyarrow.parquet as pq

    writer = None
    with fsspec.open(f"{scratch}/part-{index:05d}.decisions.parquet", "wb") as out:
        def record(chunk) -> None:
            nonlocal writer
            table = decision_rows(chunk)
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table.cast(writer.schema))

        try:
            yield record
        finally:
            if writer is not None:
                writer.close()


def merge_summaries(results: list[PartResult]) -> Summary:
    """The run's summary: every part's, added in part order (row numbers of failures shift)."""
    ordered = sorted(results, key=lambda r: r.index)
    total = ordered[0].summary
    for result in ordered[1:]:
        total.merge(result.summary)
    return total


def assemble(results: list[PartResult], output: str, options: Options, summary: Summary, model) -> None:
    """Write the final output from the parts, atomically: a temporary name, renamed when complete.
    An output ending in `/` (or an existing folder) gets one file per part."""
    ordered = sorted(results, key=lambda r: r.index)
    if options.fmt in STREAMED_FORMATS and _is_folder(output):
        _publish_folder([r.path for r in ordered], output, options.fmt)
        return
    temporary = f"{output}.{uuid.uuid4().hex[:8]}.partial" if output != "-" else None
    try:
        with (open(temporary, "wb") if temporary else _stdout()) as out:
            if options.fmt == "csv":
                _concatenate_csv([r.path for r in ordered], out)
            elif options.fmt == "parquet":
                _concatenate_parquet([r.path for r in ordered], out)
            else:
                frames = (frame for r in ordered for frame in r.frames)
                if options.fmt == "json":
                    write_records(frames, out, summary, model, explained=options.scoring.explain)
                else:
                    write_xlsx(frames, out)
        if temporary:
            os.replace(temporary, output)
    finally:
        if temporary and os.path.exists(temporary):
            os.unlink(temporary)


def _concatenate_csv(paths: list[str], out) -> None:
    """Each part file has the header line; the answer has it once."""
    import fsspec

    for number, path in enumerate(paths):
        with fsspec.open(path, "rb") as part:
            header = part.readline()
            if number == 0:
                out.write(header)
            shutil.copyfileobj(part, out, 1 << 20)


def _concatenate_parquet(paths: list[str], out) -> None:
    import fsspec
    import pyarrow.parquet as pq

    writer = None
    try:
        for path in paths:
            with fsspec.open(path, "rb") as part:
                file = pq.ParquetFile(part)
                for group in range(file.num_row_groups):
                    table = file.read_row_group(group)
                    writer = writer or pq.ParquetWriter(out, table.schema)
                    writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _publish_folder(paths: list[str], output: str, fmt: str) -> None:
    """Move the part files into `output` under a temporary folder name, then rename it into place."""
    import fsspec

    target = output.rstrip("/")
    temporary = f"{target}.{uuid.uuid4().hex[:8]}.partial"
    fs = fsspec.core.url_to_fs(target)[0]
    fs.makedirs(temporary, exist_ok=True)
    try:
        for number, path in enumerate(paths):
            fs.mv(path, f"{temporary}/part-{number:05d}.{fmt}")
        if fs.exists(target):  # a folder of other files too: replace only the parts (dataset.check_output)
            for old in fs.ls(target, detail=False):
                if OWN_PART.match(PurePosixPath(old).name):
                    fs.rm(old)
            for path in sorted(fs.ls(temporary, detail=False)):
                fs.mv(path, f"{target}/{PurePosixPath(path).name}")
        else:
            fs.mv(temporary, target, recursive=True)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary, recursive=True)


def _is_folder(output: str) -> bool:
    return output.endswith("/") or Path(output).is_dir()


def _stdout():
    import contextlib
    import sys

    return contextlib.nullcontext(sys.stdout.buffer)
