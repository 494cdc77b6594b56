"""A queued job's upload, kept in the results store (owner-only on a local folder) under
`job-inputs/` until the job ends: the worker reads it from there, on whichever host it runs, and it
is deleted when the job succeeds, fails or is cancelled. Locations are relative to the store's root,
so hosts that mount the shared store at different paths agree on them."""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from typing import BinaryIO

from webapp.storage import modified_at

FOLDER = "job-inputs"
ORPHAN_SECONDS = 24 * 3600  # an input of no live job this old was left by a crash: the purge removes it


def location_for(job_id: str) -> str:
    return f"{FOLDER}/{job_id}.input"


def save(store, job_id: str, source: BinaryIO) -> str:
    """Copy `source` (from its start if it can seek: else a request's stream, read once) into the
    store; an upload that breaks off (too large, the client gone) leaves nothing behind."""
    location = location_for(job_id)
    path = f"{store.root}/{location}"
    seekable = source.seekable()
    if seekable:
        source.seek(0)
    try:
        if store.local:
            os.makedirs(f"{store.root}/{FOLDER}", mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        else:
            store.fs.makedirs(f"{store.root}/{FOLDER}", exist_ok=True)
            with store.fs.open(path, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    except BaseException:
        delete(store, location)
        raise
    if seekable:
        source.seek(0)
    return location


def open_input(store, location: str) -> BinaryIO:
    return store.fs.open(f"{store.root}/{location}", "rb")


def delete(store, location: str | None) -> None:
    if location:
        with contextlib.suppress(OSError):
            store.fs.rm_file(f"{store.root}/{location}")


def purge(store, live: set[str], now: float | None = None) -> int:
    """Remove inputs that belong to no queued or running job (`live`) and are older than a day."""
    now = time.time() if now is None else now
    folder = f"{store.root}/{FOLDER}"
    if not store.fs.isdir(folder):
        return 0
    removed = 0
    for entry in store.fs.ls(folder, detail=True):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if f"{FOLDER}/{name}" not in live and modified_at(entry, now) + ORPHAN_SECONDS <= now:
            with contextlib.suppress(OSError):
                store.fs.rm_file(entry["name"])
                removed += 1
    return removed


def count_rows(source: BinaryIO) -> int | None:
    """The rows of a CSV (lines after the header) or a Parquet file (its metadata), cheaply, for the
    progress bar's total; None for spreadsheets and JSON (known when scoring ends). Leaves `source`
    at its start."""
    source.seek(0)
    head = source.read(4)
    source.seek(0)
    try:
        if head == b"PAR1":
            import pyarrow.parquet as pq

            return pq.ParquetFile(source).metadata.num_rows
        if head[:2] == b"PK" or head[:4] == b"\xd0\xcf\x11\xe0" or head.lstrip()[:1] in (b"{", b"["):
            return None
        lines, last = 0, b"\n"
        for block in iter(lambda: source.read(1 << 22), b""):
            lines += block.count(b"\n")
            last = block[-1:]
        lines += last != b"\n"  # a last line without its newline
        return max(lines - 1, 0)
    finally:
        source.seek(0)
