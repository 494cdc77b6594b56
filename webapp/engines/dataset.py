"""Score a dataset (a file, a folder or a glob of parts, any fsspec URL) into one output, with the
local or the Dask engine; the plain function behind `flask score`."""
from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from pathlib import PurePosixPath

from webapp.core.errors import is_storage_fault, storage_unavailable
from webapp.core.scoring import Summary
from webapp.engines import cluster, local
from webapp.engines.parts import STREAMED_FORMATS, DatasetError, Options, assemble, discover, merge_summaries

ENGINES = ("local", "dask")


def score_dataset(location: str, output: str, model, options: Options, *, engine: str = "local",
                  scheduler: str | None = None, progress: Callable[[int], None] = lambda done: None,
                  parts: list[str] | None = None, recorder=None) -> Summary:
    """Score every part of `location` and write the answer to `output` ('-': standard output). With a
    `recorder` (the service's `Recorder`), the run is one batch of the decision record: every part's
    rows in part order, renumbered as one input, completed with the merged summary — or failed."""
    import fsspec

    urls = parts or discover(location)
    scratch = _scratch_for(output)
    fs = fsspec.core.url_to_fs(scratch)[0]
    fs.makedirs(scratch, exist_ok=True)
    if recorder is not None:
        options = dataclasses.replace(options, record=True)
    try:
        if engine == "dask":
            results = cluster.run(urls, model, options, scratch, progress, scheduler=scheduler)
        else:
            results = local.run(urls, model, options, scratch, progress)
        if recorder is not None:  # before the merge, which adds every part's counts into the first's
            _record(results, recorder, "parquet" if any(u.lower().endswith((".parquet", ".pq")) for u in urls)
                    else "csv")
        summary = merge_summaries(results)
        if recorder is not None:  # recorded before any decision reaches the output: never one without the other
            report = summary.to_dict()
            report["batch_id"] = recorder.batch_id
            recorder.complete(report)
        try:
            assemble(results, output, options, summary, model)
        except OSError as exc:  # a full disk is a service fault (a job is tried again), never a crash
            if is_storage_fault(exc):
                raise storage_unavailable(exc, recorded=False) from None
            raise
        return summary
    except BaseException as exc:
        if recorder is not None and not recorder.completed:  # a recorded batch stays recorded if the output fails
            recorder.fail(getattr(exc, "code", None) if isinstance(getattr(exc, "code", None), str)
                          else type(exc).__name__)
        raise
    finally:
        if fs.exists(scratch):
            fs.rm(scratch, recursive=True)


def _record(results, recorder, input_format: str) -> None:
    """Feed the record the parts' rows in part order, row numbers continuing across parts."""
    import fsspec
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    recorder.open(input_format)
    offset = 0
    for result in sorted(results, key=lambda r: r.index):
        with fsspec.open(result.decisions, "rb") as part:
            file = pq.ParquetFile(part)
            for group in range(file.num_row_groups):
                table = file.read_row_group(group)
                rows = pc.add(table["row"], pa.scalar(offset, pa.int64()))
                recorder.add_rows(table.set_column(table.schema.get_field_index("row"), "row", rows))
        offset += result.summary.rows


def check_output(output: str, fmt: str, overwrite: bool) -> None:
    """A folder output must be empty unless `overwrite`; assemble then replaces only this command's
    own part files: scoring never deletes what it did not write."""
    import fsspec

    if output == "-" or fmt not in STREAMED_FORMATS:
        return
    fs, path = fsspec.core.url_to_fs(output.rstrip("/"))
    if fs.isdir(path) and fs.ls(path, detail=False) and not overwrite:
        raise DatasetError(f"The output folder {output} is not empty; choose another, or pass --overwrite to "
                           "replace its part files (nothing else in it is touched).", code="output-not-empty")


def default_output(location: str, fmt: str) -> str:
    """INPUT-predictions.FMT beside a file or folder; predictions.FMT beside a glob's parts."""
    path = PurePosixPath(location.rstrip("/"))
    if any(char in location for char in "*?["):
        return str(path.parent / f"predictions.{fmt}")
    stem = path.stem if path.suffix.lower() in (".csv", ".parquet", ".pq", ".xlsx", ".xls", ".xlsb", ".xlsm", ".ods",
                                                ".json", ".txt", ".tsv") else path.name
    return str(path.with_name(f"{stem}-predictions.{fmt}"))


def format_of(output: str | None, asked: str | None) -> str:
    """The answer's format: asked for, else from the output's name, else CSV."""
    if asked:
        return asked
    suffix = PurePosixPath((output or "").rstrip("/")).suffix.lower().lstrip(".")
    return suffix if suffix in ("csv", "xlsx", "json", "parquet") else "csv"


def _scratch_for(output: str) -> str:
    """Part files go beside the output (on the same storage, which the workers must reach)."""
    if output == "-":
        import tempfile

        return tempfile.mkdtemp(prefix="loan-parts-")
    path = PurePosixPath(output.rstrip("/"))
    return str(path.parent / f".{path.name}.parts-{uuid.uuid4().hex[:8]}")
