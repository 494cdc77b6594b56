"""Scored results named by a random token, kept for their time to live.

Each result is `<token>.csv` (the predictions), `<token>.json` (its summary and metadata) and, once
asked for, `<token>.xlsx`; a recorded batch's `<batch id>.batch` names the token it was answered
with. Data files are written under a temporary name and renamed when complete, and the metadata is
written last: a result without its `.json` is an orphan the purge removes. On a
local folder files are owner-only. After their time to live the data files go and a small tombstone
(dates and whose it was, no applicant data) stays a while, so an old link answers "expired" rather than "never
existed".
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

TOKEN_BYTES = 32  # 256 random bits
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_BATCH_ID = re.compile(r"[0-9a-f]{32}")
TOMBSTONE_SECONDS = 30 * 24 * 3600
PURGE_INTERVAL_SECONDS = 600
ORPHAN_SECONDS = 3600  # a data file with no metadata this long after its last write was left by a killed writer
SIDE_FILES = ("applicants.json",)  # kept beside a result, deleted with it (see `attach`)


class ResultNotFound(LookupError):
    pass


class ResultExpired(LookupError):
    def __init__(self, token: str, actor: str | None = None):
        super().__init__(token)
        self.actor = actor  # whose it was (the tombstone keeps it): another's answers "not found", not "expired"


class StorageFault(OSError):
    """The backend refused a write or read: the message names the problem, never the data."""


@dataclass(frozen=True)
class StoredResult:
    token: str
    meta: dict
    location: str  # the CSV's path (local folder) or URL

    @property
    def csv_path(self) -> Path:
        return Path(self.location)


class ResultStore:
    """Results on one fsspec filesystem under `root` (a local folder unless `url` names another)."""

    def __init__(self, folder: str | Path, ttl_seconds: int, clock: Callable[[], float] | None = None):
        import fsspec

        self.url = str(folder)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.local = "file" in _protocols(self.fs)
        self.folder = Path(self.root) if self.local else None
        self.ttl = ttl_seconds
        self.clock = clock or (lambda: time.time())
        self._last_purge = float("-inf")

    def create(self, write: Callable[[BinaryIO], dict], meta: dict) -> str:
        """Run `write(file)` into a new result; it returns the summary. Return the token.
        A failing `write` (or a failing backend) leaves nothing behind."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            self.fs.makedirs(self.root, exist_ok=True)
            with self._atomic(token, "csv") as out:
                summary = write(out)
            now = self.clock()
            record = {**meta, "summary": summary, "created_at": now, "expires_at": now + self.ttl}
            with self._atomic(token, "json") as out:
                out.write(json.dumps(record).encode("utf-8"))
            self._link_batch(summary, token)
        except OSError as exc:
            self._remove(token, ("csv", "json", *SIDE_FILES))
            raise StorageFault(f"the results store at {self.describe()} cannot be written ({_reason(exc)})") from exc
        except BaseException:
            self._remove(token, ("csv", "json", *SIDE_FILES))
            raise
        return token

    def _link_batch(self, summary, token: str) -> None:
        """`<batch id>.batch`, holding the token: the Batches page links a batch to its result while
        the result lasts (the purge removes the link after the result's time to live)."""
        batch_id = summary.get("batch_id") if isinstance(summary, dict) else None
        if isinstance(batch_id, str) and _BATCH_ID.fullmatch(batch_id):
            with contextlib.suppress(OSError):  # a convenience: the result stands without it
                with self._atomic(batch_id, "batch") as out:
                    out.write(token.encode("ascii"))

    def for_batch(self, batch_id: str) -> StoredResult | None:
        """The live result the batch `batch_id` was answered with, if it still lasts."""
        if not _BATCH_ID.fullmatch(batch_id or ""):
            return None
        try:
            return self.get(self.fs.cat_file(self._path(batch_id, "batch")).decode("ascii"))
        except (OSError, ValueError, ResultNotFound, ResultExpired):
            return None

    def get(self, token: str) -> StoredResult:
        meta = self._meta(token)
        if meta.get("expired") or meta["expires_at"] <= self.clock():
            self._expire(token, meta)
            raise ResultExpired(token, meta.get("actor"))
        return StoredResult(token, meta, self._path(token, "csv"))

    def open(self, result: StoredResult, fmt: str = "csv") -> BinaryIO:
        return self.fs.open(self._path(result.token, fmt), "rb")

    def sendable(self, result: StoredResult, fmt: str = "csv"):
        """A path on a local folder (so the server can send it with its length and dates), else an
        open file."""
        return Path(self._path(result.token, fmt)) if self.local else self.open(result, fmt)

    def size(self, result: StoredResult, fmt: str = "csv") -> int:
        return self.fs.size(self._path(result.token, fmt))

    def attach(self, result_token: str, name: str, data: bytes) -> None:
        """A small side file kept beside a result, as private as it and deleted with it (the
        applicants' names and addresses for the page's notices: `<token>.<name>`)."""
        if name not in SIDE_FILES:
            raise ValueError(f"unknown side file {name!r}")
        try:
            with self._atomic(result_token, name) as out:
                out.write(data)
        except OSError as exc:
            raise StorageFault(f"the results store at {self.describe()} cannot be written ({_reason(exc)})") from exc

    def attached(self, result: StoredResult, name: str) -> bytes | None:
        """A side file of a live result, or None when there is none."""
        if name not in SIDE_FILES:
            raise ValueError(f"unknown side file {name!r}")
        try:
            return self.fs.cat_file(self._path(result.token, name))
        except FileNotFoundError:
            return None

    def derived(self, result: StoredResult, fmt: str, convert: Callable[[BinaryIO, BinaryIO], None]) -> str:
        """Another format of a result (Excel), made from the CSV once: concurrent requests for it wait
        for the one conversion in this process rather than each running their own."""
        path = self._path(result.token, fmt)
        with _conversion_lock(path):
            if not self.fs.exists(path):
                try:
                    with self.open(result) as source, self._atomic(result.token, fmt, shared=True) as out:
                        convert(source, out)
                except OSError as exc:
                    raise StorageFault(f"the results store at {self.describe()} cannot be written "
                                       f"({_reason(exc)})") from exc
        return path

    def purge(self) -> int:
        """Expire results past their time; drop old tombstones, partial writes and orphans.
        Returns how many results expired."""
        now, expired = self.clock(), 0
        if not self.fs.isdir(self.root):
            return 0
        entries = self.fs.ls(self.root, detail=True)
        names = {PurePosix(e["name"]).name for e in entries}
        for entry in entries:
            name = PurePosix(entry["name"]).name
            stem, _, suffix = name.partition(".")
            if suffix == "json":
                expired += self._purge_meta(stem, now)
            elif suffix == "batch" and modified_at(entry, now) + self.ttl + ORPHAN_SECONDS <= now:
                self._unlink(entry["name"])  # its result has expired by now
            elif (name.endswith(".partial") or (suffix in ("csv", "xlsx", *SIDE_FILES) and f"{stem}.json" not in names)) \
                    and modified_at(entry, now) + ORPHAN_SECONDS <= now:  # younger: perhaps still being written
                self._unlink(entry["name"])
        return expired

    def purge_if_due(self, interval: float = PURGE_INTERVAL_SECONDS) -> int:
        """Purge at most once per `interval` per store (the jobs' periodic task and `flask
        purge-results` do it on a schedule; this keeps a server without them tidy, cheaply)."""
        now = time.monotonic()
        with _locks_guard:
            if now - self._last_purge < interval:
                return 0
            self._last_purge = now
        return self.purge()

    def check(self) -> str | None:
        """None when a result can be written now, else what is wrong (for /readyz)."""
        probe = f"{self.root}/.ready-{secrets.token_hex(4)}.partial"
        try:
            self.fs.makedirs(self.root, exist_ok=True)
            with self.fs.open(probe, "wb") as out:
                out.write(b"ok")
            self.fs.rm(probe)
        except OSError as exc:
            return f"the results store at {self.describe()} cannot be written ({_reason(exc)})"
        return None

    def describe(self) -> str:
        """The store's name for messages: its URL's scheme and last folder, not a full path."""
        scheme = "" if self.local else f"{_protocols(self.fs)[0]}://…/"
        return f"{scheme}{PurePosix(self.root).name or self.root}"

    def _purge_meta(self, token: str, now: float) -> int:
        try:
            meta = json.loads(self.fs.cat_file(self._path(token, "json")))
        except (OSError, ValueError):
            return 0
        if meta.get("expired"):
            if meta["expires_at"] + TOMBSTONE_SECONDS <= now:
                self._unlink(self._path(token, "json"))
            return 0
        if meta["expires_at"] <= now:
            self._expire(token, meta)
            return 1
        return 0

    def _meta(self, token: str) -> dict:
        if not _TOKEN.match(token or ""):
            raise ResultNotFound(token)
        try:
            return json.loads(self.fs.cat_file(self._path(token, "json")))
        except FileNotFoundError:
            raise ResultNotFound(token) from None

    def _expire(self, token: str, meta: dict) -> None:
        self._remove(token, ("csv", "xlsx", *SIDE_FILES))
        tombstone = {"expired": True, "created_at": meta["created_at"], "expires_at": meta["expires_at"],
                     "actor": meta.get("actor")}
        with contextlib.suppress(OSError):
            self.fs.pipe_file(self._path(token, "json"), json.dumps(tombstone).encode("utf-8"))

    def _remove(self, token: str, suffixes) -> None:
        for suffix in suffixes:
            self._unlink(self._path(token, suffix))

    def _unlink(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self.fs.rm_file(path)

    def _path(self, token: str, suffix: str) -> str:
        return f"{self.root}/{token}.{suffix}"

    @contextlib.contextmanager
    def _atomic(self, token: str, suffix: str, shared: bool = False):
        """Write to a temporary name, rename into place when the block ends without error. A new
        token's files are this writer's alone; a `shared` one (a derived format another process may
        also be making) gets a name of its own."""
        final = self._path(token, suffix)
        partial = f"{final}.{secrets.token_hex(4)}.partial" if shared else f"{final}.partial"
        try:
            with (_owner_only(partial) if self.local else self.fs.open(partial, "wb")) as out:
                yield out
            self.fs.mv(partial, final)
        finally:
            self._unlink(partial)


class PurePosix(str):
    """The last part of a '/'-separated path (fsspec paths are posix-style on every backend)."""

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _conversion_lock(path: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def _protocols(fs) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def modified_at(entry: dict, default: float) -> float:
    """When an fsspec listing's entry was last written (seconds since the epoch), whatever the
    backend calls it; `default` when it does not say."""
    value = next((entry[key] for key in ("mtime", "LastModified", "created") if entry.get(key) is not None), None)
    if value is None:
        return default
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def _reason(exc: OSError) -> str:
    """The kind of fault, without paths: 'no space left on device', 'read-only file system', …"""
    return (exc.strerror or type(exc).__name__).lower() if isinstance(exc, OSError) else type(exc).__name__


def open_store(url: str, ttl_seconds: int) -> ResultStore:
    return ResultStore(url, ttl_seconds)


@contextlib.contextmanager
def _owner_only(path: str):
    """A new file readable and writable by this user only (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        yield out
