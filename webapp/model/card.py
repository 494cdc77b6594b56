"""The model card, typed: what the service reads of it as attributes, not string keys. The JSON card
beside the artifact stays the published document (`/api/v1/model`, the model page); `ModelCard`
is its checked, read-only view, built once when the model is loaded."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    kind: str                      # "category", "number" or "flag"
    decides: bool = True           # seen by the model (else monitored only)
    monitored: bool = False        # in the parity report
    allowed: tuple[str, ...] = ()  # categories: the training spellings
    description: str = ""
    example: object = None
    maximum: float | None = None
    why: str = ""

    @classmethod
    def of(cls, entry: Mapping) -> "FeatureSpec":
        return cls(name=entry["name"], kind=entry["kind"], decides=bool(entry.get("decides", True)),
                   monitored=bool(entry.get("monitored", False)), allowed=tuple(entry.get("allowed") or ()),
                   description=entry.get("description", ""), example=entry.get("example"),
                   maximum=entry.get("maximum"), why=entry.get("why", ""))


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    threshold: float
    features: tuple[FeatureSpec, ...]
    created_at: str = ""
    scikit_learn_version: str = ""
    artifact_sha256: str = ""
    cv: Mapping | None = None
    training_distribution: Mapping | None = None
    raw: Mapping = field(default_factory=lambda: MappingProxyType({}))  # the whole JSON card, read-only

    @classmethod
    def of(cls, card: Mapping) -> "ModelCard":
        """From a card whose shape was checked (`loading.checked_card`)."""
        return cls(name=card["name"], version=card["version"], threshold=float(card["threshold"]),
                   features=tuple(FeatureSpec.of(f) for f in card["features"]),
                   created_at=card.get("created_at", ""), scikit_learn_version=card.get("scikit_learn_version", ""),
                   artifact_sha256=(card.get("artifact") or {}).get("sha256", ""), cv=card.get("cv"),
                   training_distribution=card.get("training_distribution"), raw=MappingProxyType(dict(card)))

    @property
    def decision_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.decides)

    @property
    def monitored_attributes(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.monitored)
