"""The model store: one folder per version, named by the artifact's SHA-256, holding the artifact
and its card. Any fsspec URL (a local folder by default); written once, never overwritten, so the
same artifact stored twice (two workers at once) is harmless."""
from __future__ import annotations

import secrets
import tempfile
import threading
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from webapp.model.loading import card_path


class ModelStore:
    def __init__(self, url: str):
        self.url = str(url).rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self._cache: Path | None = None
        self._lock = threading.Lock()

    @property
    def local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def put(self, artifact: Path, sha256: str) -> str:
        """Copy `artifact` and its card into the store; return the artifact's location there."""
        folder = f"{self.root}/{sha256}"
        self.fs.makedirs(folder, exist_ok=True)
        target = f"{folder}/{Path(artifact).name}"
        for source, destination in ((card_path(artifact), str(card_path(Path(target)))), (artifact, target)):
            if not self.fs.exists(destination):
                partial = f"{destination}.{secrets.token_hex(4)}.partial"  # readers never see half a file
                self.fs.put_file(str(source), partial)
                self.fs.mv(partial, destination)
        return target

    def local_path(self, location: str) -> Path:
        """A local file holding the artifact at `location` (with its card beside it): the file itself
        on a local store, else a copy fetched once per process into a temporary folder."""
        if self.local:
            return Path(location)
        with self._lock:
            if self._cache is None:
                self._cache = Path(tempfile.mkdtemp(prefix="model-store-"))
            folder = self._cache / Path(location).parent.name
            target = folder / Path(location).name
            if not target.exists():
                folder.mkdir(exist_ok=True)
                # Each file under a temporary name, renamed once whole, the artifact last (its presence
                # means both are here): a download cut short is fetched again by the next load instead
                # of failing every later load's hash check until a restart.
                for source, destination in ((str(card_path(Path(location))), card_path(target)), (location, target)):
                    partial = destination.with_name(f"{destination.name}.partial")
                    try:
                        self.fs.get_file(source, str(partial))
                        partial.replace(destination)
                    finally:
                        partial.unlink(missing_ok=True)
        return target
