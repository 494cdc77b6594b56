"""The model registry: immutable model versions (artifact, card, hashes and validation report) in a
model store, their status (candidate → approved → retired, approval by a second model admin), the
`champion` and `challenger` aliases with an append-only history, and what serving needs: a cheap
generation counter and each version loaded once per process.

Parts: `models` (the tables), `artifacts` (vetting a file before it is ever unpickled), `store`
(the fsspec model store), `services` (`ModelRegistry`, the operations).

May import: the standard library, SQLAlchemy, fsspec, joblib and scikit-learn; `webapp.db`,
`webapp.model`, `webapp.core`, `webapp.stats` and `webapp.storage`. Never Flask.
"""
from webapp.registry.artifacts import ArtifactRefused, vet
from webapp.registry.services import (
    ADMIN_ROLES,
    CHALLENGER,
    CHAMPION,
    ModelRegistry,
    NotAllowed,
    NotFound,
    RegistryError,
    Refused,
)
from webapp.registry.store import ModelStore

__all__ = ["ADMIN_ROLES", "CHALLENGER", "CHAMPION", "ArtifactRefused", "ModelRegistry", "ModelStore", "NotAllowed",
           "NotFound", "Refused", "RegistryError", "vet"]
