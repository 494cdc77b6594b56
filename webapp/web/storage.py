"""Scored results kept for the results page: files under the uploads folder named by a random token.

Each result is `<token>.csv` (the predictions), `<token>.json` (its summary and metadata) and, once
asked for, `<token>.xlsx`. Files are owner-only. After their time to live the data files go and a
small tombstone (dates only, no applicant data) stays a while, so an old link answers "expired"
rather than "never existed".
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

TOKEN_BYTES = 32  # 256 random bits
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
TOMBSTONE_SECONDS = 30 * 24 * 3600
LEFTOVER_SECONDS = 3600  # a leftover older than this is no result still being written


class ResultNotFound(LookupError):
    pass


class ResultExpired(LookupError):
    pass


@dataclass(frozen=True)
class StoredResult:
    token: str
    meta: dict
    csv_path: Path


class ResultStore:
    def __init__(self, folder: str | Path, ttl_seconds: int, clock: Callable[[], float] | None = None):
        self.folder = Path(folder)
        self.ttl = ttl_seconds
        self.clock = clock or (lambda: time.time())

    def create(self, write: Callable[[BinaryIO], dict], meta: dict) -> str:
        """Run `write(file)` into a new owner-only CSV; it returns the summary. Return the token.
        A failing `write` leaves nothing behind."""
        self.folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        # Written under temporary names and renamed, the data before its metadata: a worker killed
        # midway leaves `*.partial` files (or a CSV without its JSON), which the purge removes.
        partial = {suffix: self.folder / f"{token}.{suffix}.partial" for suffix in ("csv", "json")}
        try:
            with _owner_only(partial["csv"]) as out:
                summary = write(out)
            now = self.clock()
            record = {**meta, "summary": summary, "created_at": now, "expires_at": now + self.ttl}
            with _owner_only(partial["json"]) as out:
                out.write(json.dumps(record).encode("utf-8"))
            os.replace(partial["csv"], self._path(token, "csv"))
            os.replace(partial["json"], self._path(token, "json"))
        except BaseException:
            self._remove(token, ("csv", "json", "csv.partial", "json.partial"))
            raise
        return token

    def get(self, token: str) -> StoredResult:
        meta = self._meta(token)
        if meta.get("expired") or meta["expires_at"] <= self.clock():
            self._expire(token, meta)
            raise ResultExpired(token)
        return StoredResult(token, meta, self._path(token, "csv"))

    def xlsx_path(self, result: StoredResult, convert: Callable[[Path, BinaryIO], None]) -> Path:
        """The Excel version, made from the CSV on first request."""
        path = self._path(result.token, "xlsx")
        if not path.exists():
            partial = path.with_suffix(f".{secrets.token_hex(4)}.partial")
            try:
                with _owner_only(partial) as out:
                    convert(result.csv_path, out)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
        return path

    def purge(self) -> int:
        """Expire results past their time; drop old tombstones. Returns how many results expired."""
        now, expired = self.clock(), 0
        if not self.folder.is_dir():
            return 0
        for meta_path in self.folder.glob("*.json"):
            token = meta_path.stem
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if meta.get("expired"):
                if meta["expires_at"] + TOMBSTONE_SECONDS <= now:
                    meta_path.unlink(missing_ok=True)
            elif meta["expires_at"] <= now:
                self._expire(token, meta)
                expired += 1
        self._remove_leftovers()
        return expired

    def _remove_leftovers(self) -> None:
        """Files a killed worker left: temporary ones, and data without its metadata. Only old ones
        (by their modification time): a result being written right now has them for a moment."""
        now = time.time()
        for path in self.folder.iterdir():
            orphan = path.suffix in (".csv", ".xlsx") and not path.with_suffix(".json").exists()
            if path.suffix == ".partial" or orphan:
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime + LEFTOVER_SECONDS <= now:
                        path.unlink()

    def _meta(self, token: str) -> dict:
        if not _TOKEN.match(token or ""):
            raise ResultNotFound(token)
        try:
            return json.loads(self._path(token, "json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ResultNotFound(token) from None

    def _expire(self, token: str, meta: dict) -> None:
        self._remove(token, ("csv", "xlsx"))
        tombstone = {"expired": True, "created_at": meta["created_at"], "expires_at": meta["expires_at"]}
        self._path(token, "json").write_text(json.dumps(tombstone), encoding="utf-8")

    def _remove(self, token: str, suffixes) -> None:
        for suffix in suffixes:
            self._path(token, suffix).unlink(missing_ok=True)

    def _path(self, token: str, suffix: str) -> Path:
        return self.folder / f"{token}.{suffix}"


@contextlib.contextmanager
def _owner_only(path: Path):
    """A new file readable and writable by this user only (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        yield out
