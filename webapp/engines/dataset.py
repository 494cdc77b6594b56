"""Score a dataset (a file, a folder or a glob of parts, any fsspec URL) into one output, with the
local or the Dask engine; the plain function behind `flask score`."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import PurePosixPath

from webapp.core.scoring import Summary
from webapp.engines import cluster, local
from webapp.engines.parts import STREAMED_FORMATS, DatasetError, Options, assemble, discover, merge_summaries

ENGINES = ("local", "dask")


def score_dataset(location: str, output: str, model, options: Options, *, engine: str = "local",
                  scheduler: str | None = None, progress: Callable[[int], None] = lambda done: None,
                  parts: list[str] | None = None) -> Summary:
    """Score every part of `location` and write the answer to `output` ('-': standard output)."""
    import fsspec

    urls = parts or discover(location)
    scratch = _scratch_for(output)
    fs = fsspec.core.url_to_fs(scratch)[0]
    fs.makedirs(scratch, exist_ok=True)
    try:
        if engine == "dask":
            results = cluster.run(urls, model, options, scratch, progress, scheduler=scheduler)
        else:
            results = local.run(urls, model, options, scratch, progress)
        summary = merge_summaries(results)
        assemble(results, output, options, summary, model)
        return summary
    finally:
        if fs.exists(scratch):
            fs.rm(scratch, recursive=True)


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
