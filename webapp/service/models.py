"""The served models, behind one accessor: every caller asks `ModelProvider.current()` and gets the
champion or `ModelUnavailable` — one behaviour when there is none (503 in the API, the error page in
the UI, a message in the CLI).

Backed by the model registry: each call checks the registry's alias generation (cached for
`GENERATION_TTL`, so a clock read on most requests), and when it moved, reads the aliases and loads
the new champion and challenger (each version once per process, by the registry) before swapping one
immutable `Served` snapshot in — so a promotion elsewhere is served within seconds, without a
restart, and a caller holding a model object keeps that one version for its whole request. A
version serves only as the registry recorded it: approved, its artifact's SHA-256 and its card the
registered ones — the shipped artifact too, which stands in for its version only when it is that
version byte for byte and card for card. When the registry cannot be read, the champion it last
named keeps serving; a process that never read it, or a registry that names no champion, serves
nothing (503) rather than an artifact nobody approved. Without a registry (`registry=None`) the
shipped artifact is all there is, and serves.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from webapp.core.errors import ModelUnavailable

log = logging.getLogger(__name__)
_FOLDERS = re.compile(r"(?:/[\w.\-]+)+/([\w.\-]+)")  # an absolute path: keep its last part
RETRY_SECONDS = 1.0  # after a failed registry read, serve what we have this long before asking again


@dataclass(frozen=True)
class Served:
    """One consistent view of what serves: read together, swapped together."""

    generation: int | None
    champion: object | None
    challenger: object | None
    source: str  # "registry" or "shipped"


class ModelProvider:
    def __init__(self, model=None, error: str | None = None, *, registry=None):
        self._shipped = model
        self._shipped_error = None if model is not None else (error or "No model is loaded.")
        self.registry = registry
        # With a registry, nothing serves before it has been read: the shipped file may be a candidate.
        self._served = Served(None, model if registry is None else None, None, "shipped")
        self._refresh = threading.Lock()
        self._retry_at = 0.0
        self.registry_error: str | None = None  # why the registry is not serving, when it is not

    @classmethod
    def load(cls, path, *, registry=None) -> "ModelProvider":
        from webapp.model.loading import ModelLoadError, load_model

        try:
            return cls(load_model(path), registry=registry)
        except ModelLoadError as exc:
            return cls(None, str(exc), registry=registry)

    # --- what callers use --------------------------------------------------------------------------

    def served(self) -> Served:
        """The current snapshot, refreshed first when the registry's generation moved."""
        if self.registry is None:
            return self._served
        served = self._served
        now = time.monotonic()
        if now < self._retry_at:
            return served
        try:
            generation = self.registry.generation()
        except Exception as exc:  # noqa: BLE001 - a database outage must not take scoring down with it
            return self._unavailable(f"the model registry cannot be read: {type(exc).__name__}", now)
        if generation == served.generation:
            return served
        # Only the first read waits for a load; later ones keep serving the old versions meanwhile.
        if not self._refresh.acquire(blocking=served.generation is None):
            return served
        try:
            if self._served.generation != generation:
                self.registry_error = None  # `_read` says why, when the registry names nothing to serve
                self._served = self._read(generation)
        except Exception as exc:  # noqa: BLE001 - e.g. a tampered artifact: keep serving, say why
            log.error("model registry refresh failed: %s", exc)
            return self._unavailable(str(getattr(exc, "message", exc)), now)
        finally:
            self._refresh.release()
        return self._served

    def current(self):
        model = self.served().champion
        if model is None:
            raise ModelUnavailable(self.error)
        return model

    def current_or_none(self):
        return self.served().champion

    def version(self, version: str):
        """The model of `version` (loaded once per process): the champion or challenger when it is
        one of them, else from the registry; `ModelUnavailable` when it cannot be loaded."""
        served = self.served()
        for model in (served.champion, served.challenger):
            if model is not None and model.version == version:
                return model
        if self.registry is None and self._shipped is not None and self._shipped.version == version:
            return self._shipped
        from webapp.model.loading import ModelLoadError
        from webapp.registry import RegistryError

        try:
            if self.registry is None:
                raise RegistryError("there is no model registry")
            return self.registry.load(version, preloaded=self._shipped)
        except (RegistryError, ModelLoadError) as exc:
            reason = _FOLDERS.sub(r"\1", str(getattr(exc, "message", exc)))
            raise ModelUnavailable(f"Model version {version} cannot be loaded: {reason}",
                                   code="model-version-unavailable") from None

    def challenger(self, champion=None):
        """The shadow challenger now, or None; never the champion itself (a promotion may have
        made the challenger champion between two calls)."""
        challenger = self.served().challenger
        if challenger is None or (champion is not None and challenger.version == champion.version):
            return None
        return challenger

    @property
    def error(self) -> str | None:
        """Why nothing serves, for /healthz (which answers anyone): file names, never their folders."""
        if self._served.champion is not None:
            return None
        # The shipped file's own fault first: it is why a new registry names no champion.
        message = "; ".join(m for m in (self._shipped_error, self.registry_error) if m) or None
        return _FOLDERS.sub(r"\1", message) if message else message

    @error.setter
    def error(self, value: str | None) -> None:
        self._shipped_error = value

    def describe(self) -> dict:
        """For /healthz: where the served champion comes from."""
        served = self._served
        out = {"source": served.source}
        if served.challenger is not None:
            out["challenger"] = served.challenger.version
        if self.registry_error:
            out["registry"] = _FOLDERS.sub(r"\1", self.registry_error)  # /healthz answers anyone: no folders
        return out

    # --- helpers -----------------------------------------------------------------------------------

    def _read(self, generation: int) -> Served:
        aliases = self.registry.aliases()
        champion_version, challenger_version = aliases.get("champion"), aliases.get("challenger")
        if champion_version is None:
            self.registry_error = "the model registry names no champion"
            return Served(generation, None, None, "none")
        champion = self._load(champion_version)
        challenger = None
        if challenger_version is not None and challenger_version != champion_version:
            try:
                challenger = self._load(challenger_version)
            except Exception as exc:  # noqa: BLE001 - a broken challenger never stops the champion
                log.error("challenger %s not loaded: %s", challenger_version, exc)
        return Served(generation, champion, challenger, "registry")

    def _load(self, version: str):
        # The shipped artifact, already loaded, stands in for the version it is (not loaded twice).
        return self.registry.load(version, preloaded=self._shipped)

    def _unavailable(self, reason: str, now: float) -> Served:
        """Keep the registry's last champion if one was loaded, else serve nothing: the shipped file
        may be a candidate or a retired version, and nobody can tell until the registry answers."""
        self._retry_at = now + RETRY_SECONDS
        self.registry_error = reason
        if self._served.source == "registry" and self._served.champion is not None:
            return self._served
        self._served = Served(None, None, None, "none")
        return self._served
