"""The registry's operations: `ModelRegistry` over a `Database`, a `ModelStore` and `role_of`.

Every actor is an email; whether it may manage models is asked of `role_of(email)` (the accounts
package supplies it), and only `ADMIN_ROLES` may. Approval takes a second pair of eyes: never the
account that trained or registered the version. Every alias change bumps the generation row first,
inside the same transaction: that row lock serializes concurrent changes on PostgreSQL (SQLite's
BEGIN IMMEDIATE already does), and the new value tells every worker to look again.
"""
from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.core.errors import Problem
from webapp.db import Database
from webapp.model.loading import LoadedModel, ModelLoadError, card_path, file_sha256, load_model
from webapp.registry.artifacts import ArtifactRefused, json_sha256, validation_report, vet
from webapp.registry.models import APPROVED, CANDIDATE, RETIRED, Alias, AliasHistory, Generation, ModelVersion
from webapp.registry.store import ModelStore

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
ADMIN_ROLES = frozenset({"model_admin", "admin"})
GENERATION_TTL = 1.0  # seconds a worker trusts its last generation read: well inside the 5 s promise
SYSTEM = "system"  # the actor that registers the shipped artifact on first start


_GENERATION = select(Generation.value).where(Generation.id == 1)


class RegistryError(Problem):
    """A refused registry operation: a problem like the input's (`status`, a stable `code`, a `title`
    and a message for people), answered by the models blueprint."""

    status = 409
    code = "registry-conflict"
    title = "The model registry refused the change"


class NotAllowed(RegistryError):
    status = 403
    code = "not-a-model-admin"
    title = "Not allowed to manage models"


class NotFound(RegistryError):
    status = 404
    code = "model-version-not-found"
    title = "No such model version"


class Refused(RegistryError):
    """The change conflicts with a version's status or the aliases (or the artifact is refused)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


class ModelRegistry:
    def __init__(self, database: Database, store: ModelStore, role_of: Callable[[str], str | None]):
        self.database = database
        self.store = store
        self.role_of = role_of
        self._loaded: dict[str, LoadedModel] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._generation: tuple[float, int] | None = None  # (read at, value), for generation() without a session
        self._changes = 0  # this process's committed alias changes: a read begun before one is not kept

    # --- serving ---------------------------------------------------------------------------------

    def generation(self, session: Session | None = None) -> int:
        """The alias generation: changes whenever an alias does. With a session: read now (one
        primary-key read). Without: the last read while it is under GENERATION_TTL old, so a check per
        request costs a clock read, and a promotion elsewhere is seen within the TTL."""
        if session is not None:
            return int(session.execute(_GENERATION).scalar_one())
        cached = self._generation
        now = time.monotonic()
        if cached is not None and now - cached[0] < GENERATION_TTL:
            return cached[1]
        changes = self._changes
        with self.database.reader.connect() as connection:
            value = int(connection.execute(_GENERATION).scalar_one())
        self._generation = (now, value)
        if self._changes != changes:  # our own change committed meanwhile: this read may predate it
            self._generation = None
        return value

    def champion(self, session: Session | None = None) -> str | None:
        return self._alias(CHAMPION, session)

    def challenger(self, session: Session | None = None) -> str | None:
        return self._alias(CHALLENGER, session)

    def aliases(self, session: Session | None = None) -> dict[str, str | None]:
        """Both aliases in one read, for a worker refreshing after the generation moved."""
        with (contextlib.nullcontext(session) if session is not None else self.database.read_session()) as s:
            found = dict(s.execute(select(Alias.name, Alias.version)).all())
        return {CHAMPION: found.get(CHAMPION), CHALLENGER: found.get(CHALLENGER)}

    def load(self, version: str, preloaded: LoadedModel | None = None) -> LoadedModel:
        """The version's model, loaded once per process (concurrent callers wait for the one load).
        `preloaded` (the shipped artifact, loaded at start) stands in when it is that version as
        registered — its artifact's SHA-256 and its card — instead of loading the store's copy."""
        loaded = self._loaded.get(version)
        if loaded is not None:
            return loaded
        with self._lock:
            lock = self._loading.setdefault(version, threading.Lock())
        with lock:
            if version not in self._loaded:
                self._loaded[version] = self._as_registered(version, preloaded) or self._load(version)
        return self._loaded[version]

    def _as_registered(self, version: str, preloaded: LoadedModel | None) -> LoadedModel | None:
        if preloaded is None or preloaded.version != version:
            return None
        with self.database.session() as s:
            row = self._version(s, version)
            registered = (row.sha256, row.card)
        return preloaded if (preloaded.artifact_sha256, preloaded.card) == registered else None

    def _load(self, version: str) -> LoadedModel:
        with self.database.session() as s:
            row = self._version(s, version)
            location, sha256, card = row.location, row.sha256, row.card
        path = self.store.local_path(location)
        differs = _stored_difference(path, sha256, card)  # the store was written behind our back
        if differs == "artifact":
            raise ModelLoadError(f"The stored artifact of model version {version} at {location} does not match "
                                 "its registered SHA-256; restore it from the registry's source.")
        if differs == "card":
            raise ModelLoadError(f"The stored card of model version {version} at {location} differs from the card "
                                 "registered with it; restore it from the registry's source.")
        return load_model(path)

    # --- reading ---------------------------------------------------------------------------------

    def versions(self) -> list[dict]:
        with self.database.session() as s:
            aliases = {}
            for name, version in s.execute(select(Alias.name, Alias.version)):
                aliases.setdefault(version, []).append(name)
            rows = s.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
            return [_describe(row, sorted(aliases.get(row.version, []))) for row in rows]

    def version(self, version: str) -> dict:
        return next((v for v in self.versions() if v["version"] == version), None) or _not_found(version)

    def history(self) -> list[dict]:
        with self.database.session() as s:
            rows = s.scalars(select(AliasHistory).order_by(AliasHistory.id)).all()
            return [{"alias": r.alias, "action": r.action, "from": r.from_version, "to": r.to_version, "by": r.by,
                     "at": _iso(r.at), "note": r.note} for r in rows]

    # --- versions --------------------------------------------------------------------------------

    def register(self, path, by: str) -> dict:
        """Add the artifact at `path` (its card beside it) as a candidate, once it is vetted."""
        self._require_admin(by)
        card = self._vetted(path)
        try:
            with self.database.session() as s:
                existing = s.scalar(select(ModelVersion.version).where(ModelVersion.sha256 == _sha(card)))
                if existing:
                    raise Refused(f"This artifact is already registered, as version {existing}.",
                                  code="already-registered")
                s.add(self._new_version(path, card, by, CANDIDATE))
        except IntegrityError:
            raise Refused(f"This artifact (version {card['version']}) is already registered.",
                          code="already-registered") from None
        log.info("model version %s registered by %s", card["version"], by)
        return self.version(card["version"])

    def add_candidate(self, artifact_path, by: str) -> dict:
        """What `flask train --by EMAIL` calls after writing the artifact: a new candidate."""
        return self.register(artifact_path, by)

    def approve(self, version: str, by: str, note: str) -> dict:
        self._require_admin(by)
        note = _required_note(note, "approving")
        with self.database.session() as s:
            row = self._version(s, version)
            if row.status != CANDIDATE:
                raise Refused(f"Version {version} is {row.status}; only a candidate can be approved.")
            if _same_person(by, row.created_by):
                raise NotAllowed(f"{by} registered version {version}; another model admin must approve it "
                                 "(four eyes).", code="four-eyes")
            row.status, row.approved_by, row.approved_at, row.approval_note = APPROVED, by, _now(), note
        return self.version(version)

    def retire(self, version: str, by: str, note: str) -> dict:
        self._require_admin(by)
        _required_note(note, "retiring")
        with self.database.session() as s:
            self._bump(s)  # the lock alias changes take: a promotion of this version waits, then sees it retired
            row = self._version(s, version)
            alias = s.scalar(select(Alias.name).where(Alias.version == version))
            if alias:
                raise Refused(f"Version {version} is the {alias}; promote or clear another first.")
            row.status, row.retired_by, row.retired_at = RETIRED, by, _now()
        return self.version(version)

    # --- aliases ---------------------------------------------------------------------------------

    def promote(self, version: str, by: str, note: str) -> dict:
        self._require_admin(by)
        note = _required_note(note, "promoting")
        with self.database.session() as s:
            self._bump(s)
            self._servable(s, version)
            current = self._alias(CHAMPION, s)
            if current == version:
                raise Refused(f"Version {version} is already the champion.")
            self._move(s, CHAMPION, "promote", current, version, by, note)
        return self.version(version)

    def rollback(self, by: str, note: str) -> dict:
        """Back to the champion before the current one's promotion (repeated: further back)."""
        self._require_admin(by)
        note = _required_note(note, "rolling back")
        with self.database.session() as s:
            self._bump(s)
            current = self._alias(CHAMPION, s)
            previous = s.scalar(select(AliasHistory.from_version).where(
                AliasHistory.alias == CHAMPION, AliasHistory.action == "promote", AliasHistory.to_version == current,
                AliasHistory.from_version.is_not(None)).order_by(AliasHistory.id.desc()).limit(1))
            if previous is None:
                raise Refused(f"Version {current} was never promoted over another: there is no previous champion.")
            self._servable(s, previous)
            self._move(s, CHAMPION, "rollback", current, previous, by, note)
        return self.version(previous)

    def set_challenger(self, version: str | None, by: str, note: str = "") -> dict | None:
        """Score every batch in shadow with `version` too; None clears the challenger."""
        self._require_admin(by)
        with self.database.session() as s:
            self._bump(s)
            current = self._alias(CHALLENGER, s)
            if version is None:
                if current is None:
                    raise Refused("There is no challenger to clear.")
                self._move(s, CHALLENGER, "clear", current, None, by, note.strip())
                return None
            self._servable(s, version)
            if version == self._alias(CHAMPION, s):
                raise Refused(f"Version {version} is the champion; a challenger must be another version.")
            if version == current:
                raise Refused(f"Version {version} is already the challenger.")
            self._move(s, CHALLENGER, "set", current, version, by, note.strip())
        return self.version(version)

    def ensure_shipped(self, path) -> str | None:
        """Register the artifact shipped with the code on first start: the first approved champion
        of an empty registry (a later shipped artifact joins as a candidate, to be approved). Safe to
        run in every worker at once: the unique SHA-256 lets one insert win. Returns the version
        registered, None when it already was."""
        path = Path(path)
        with self.database.session() as s:
            if s.scalar(select(ModelVersion.id).where(ModelVersion.sha256 == file_sha256(path))):
                return None
        card = self._vetted(path)
        try:
            with self.database.session() as s:
                self._bump(s)  # serializes the workers; the loser sees the winner's row below
                if s.scalar(select(ModelVersion.id).where(ModelVersion.sha256 == _sha(card))):
                    return None
                first = s.scalar(select(ModelVersion.id).limit(1)) is None
                s.add(self._new_version(path, card, SYSTEM, APPROVED if first else CANDIDATE,
                                        note="shipped with the code: the first version" if first else None))
                s.flush()
                if first:
                    self._move(s, CHAMPION, "first", None, card["version"], SYSTEM,
                               "the artifact shipped with the code, registered on first start")
        except IntegrityError:
            return None
        log.info("registered the shipped model %s", card["version"])
        return card["version"]

    # --- helpers ---------------------------------------------------------------------------------

    def _session(self, session: Session | None):
        import contextlib

        return contextlib.nullcontext(session) if session is not None else self.database.session()

    def _alias(self, name: str, session: Session | None) -> str | None:
        with self._session(session) as s:
            return s.scalar(select(Alias.version).where(Alias.name == name))

    def _require_admin(self, by: str) -> None:
        role = self.role_of(by) if by else None
        if role not in ADMIN_ROLES:
            raise NotAllowed(f"{by or 'An anonymous caller'} is not a model admin; only accounts with the role "
                             f"{' or '.join(sorted(ADMIN_ROLES))} may manage model versions.")

    def _vetted(self, path) -> dict:
        try:
            return vet(path)
        except ArtifactRefused as exc:
            raise Refused(str(exc), code="artifact-refused", status=422) from None

    def _new_version(self, path, card: dict, by: str, status: str, note: str | None = None) -> ModelVersion:
        location = self.store.put(Path(path), _sha(card))
        now = _now()
        approved = status == APPROVED
        return ModelVersion(
            version=card["version"], name=card["name"], sha256=_sha(card),
            training_data_sha256=(card.get("training_data") or {}).get("sha256"),
            reason_table_sha256=json_sha256(card["reasons"]), location=location, card=card,
            validation=validation_report(card), status=status, created_at=now, created_by=by,
            approved_at=now if approved else None, approved_by=by if approved else None, approval_note=note)

    @staticmethod
    def _version(s: Session, version: str) -> ModelVersion:
        row = s.scalar(select(ModelVersion).where(ModelVersion.version == version))
        return row if row is not None else _not_found(version)

    def _servable(self, s: Session, version: str) -> ModelVersion:
        """The version, once it may serve: approved, and its stored artifact still the one registered
        (an alias moved to a changed file would have some workers serve it and others refuse it)."""
        row = self._version(s, version)
        if row.status != APPROVED:
            raise Refused(f"Version {version} is {row.status}; only an approved version can serve.",
                          code="not-approved")
        differs = _stored_difference(self.store.local_path(row.location), row.sha256, row.card)
        if differs == "artifact":
            raise Refused(f"The stored artifact of version {version} does not match its registered SHA-256; "
                          "restore it before it serves.", code="artifact-changed", status=409)
        if differs == "card":
            raise Refused(f"The stored card of version {version} differs from the card registered with it; "
                          "restore it before it serves.", code="artifact-changed", status=409)
        return row

    def _bump(self, s: Session) -> None:
        s.execute(update(Generation).where(Generation.id == 1).values(value=Generation.value + 1))
        # This process sees its own change at once — once committed: forgotten before the commit, the
        # old generation was read again by a concurrent request and trusted for GENERATION_TTL.
        event.listen(s, "after_commit", self._forget_generation)

    def _forget_generation(self, _session: Session | None = None) -> None:
        self._changes += 1
        self._generation = None

    def _move(self, s: Session, alias: str, action: str, old: str | None, new: str | None, by: str,
              note: str) -> None:
        """Point `alias` at `new` (None: remove it) and append the history row."""
        now = _now()
        row = s.get(Alias, alias)
        if new is None:
            s.delete(row)
        elif row is None:
            s.add(Alias(name=alias, version=new, updated_at=now))
        else:
            row.version, row.updated_at = new, now
        s.add(AliasHistory(alias=alias, action=action, from_version=old, to_version=new, by=by, at=now, note=note))
        if alias == CHAMPION and new is not None and self._alias(CHALLENGER, s) == new:
            s.flush()
            self._move(s, CHALLENGER, "clear", new, None, by, f"{new} became the champion")
        s.flush()


def _stored_difference(path, sha256: str, card: dict) -> str | None:
    """What of a version in the store is not as registered: "artifact" (its SHA-256), "card" (a
    threshold or a reason edited there decides as much as the file), or None."""
    if file_sha256(path) != sha256:
        return "artifact"
    try:
        stored = json.loads(card_path(Path(path)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = None
    return "card" if stored != card else None


def _sha(card: dict) -> str:
    return card["artifact"]["sha256"]


def _same_person(one: str, other: str) -> bool:
    """Emails as accounts compare them (case and surrounding spaces aside): four eyes are two people."""
    return one.strip().casefold() == other.strip().casefold()


def _required_note(note: str | None, doing: str) -> str:
    if not (note or "").strip():
        raise Refused(f"A note saying why is required when {doing} a model version.", code="note-required",
                      status=400)
    return note.strip()


def _not_found(version: str):
    raise NotFound(f"No model version {version!r} is registered.")


def _describe(row: ModelVersion, aliases: list[str]) -> dict:
    return {
        "version": row.version, "status": row.status, "aliases": aliases, "created_at": _iso(row.created_at),
        "created_by": row.created_by, "sha256": row.sha256, "training_data_sha256": row.training_data_sha256,
        "reason_table_sha256": row.reason_table_sha256, "name": row.name,
        "approved_at": _iso(row.approved_at), "approved_by": row.approved_by, "approval_note": row.approval_note,
        "retired_at": _iso(row.retired_at), "retired_by": row.retired_by, "location": row.location,
        "validation": row.validation,
    }
