"""Engines: ways to run the scoring core over whole datasets — a file, a folder or a glob of CSV or
Parquet parts — in one process (`local`) or on a Dask cluster (`dask`). Both score each part with
the same function (`parts.score_part`: the core's reading, validation, scoring, reasons and batch
statistics), merge the part summaries exactly and assemble the same output, so their answers are
identical byte for byte.

May import: the standard library, numpy, pandas, pyarrow, fsspec, dask and distributed, and
`webapp.core`, `webapp.model`, `webapp.stats`. Never Flask or the web layer.
"""
