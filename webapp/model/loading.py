"""Load the trained pipeline with its model card, refusing anything that would score wrongly."""
from __future__ import annotations

import functools
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.exceptions import InconsistentVersionWarning

from webapp.model.card import ModelCard
from webapp.model.explain import explainer_from_card
from webapp.model.fastpath import compile_scorer



def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelLoadError(RuntimeError):
    """The artifact cannot be used; the message says why and what to do."""


def retrain_hint(path: Path) -> str:
    return (f"Retrain it with `flask --app webapp train --data ../shared/data/loan_train.csv --output {path}` "
            f"(or install the versions pinned in requirements.txt).")


@dataclass(frozen=True)
class LoadedModel:  # not slots: cached_property needs __dict__
    pipeline: object
    card: dict
    path: Path
    scorer: object = None  # fastpath.LinearScorer when the pipeline's shape allows; checked at load
    explainer: object = None  # explain.LinearExplainer when the scorer and the card's reference allow

    @functools.cached_property
    def info(self) -> ModelCard:
        """The card, typed (the dict `card` stays the published document)."""
        return ModelCard.of(self.card)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def threshold(self) -> float:
        return self.info.threshold

    @property
    def artifact_sha256(self) -> str:
        return self.info.artifact_sha256

    @property
    def features(self) -> list[dict]:
        return self.card["features"]

    def approval_probability(self, features) -> np.ndarray:
        """P(approved) for each row of the feature columns (`core.results.FeatureColumns` or a frame)."""
        if self.scorer is not None and self.scorer.accepts(features):
            return self.scorer(features)
        if not isinstance(features, pd.DataFrame):
            features = features.to_frame()
        decision = self.contract.decision_features
        if tuple(features.columns) != decision:
            features = features[list(decision)]
        return self.pipeline.predict_proba(features)[:, self._positive_column]

    @property
    def training_distribution(self) -> dict | None:
        return self.info.training_distribution

    @property
    def explanation_method(self) -> str | None:
        return self.explainer.method if self.explainer is not None else None

    @property
    def explanation_base(self) -> float | None:
        return self.explainer.base if self.explainer is not None else None

    def explain(self, features):
        """core.reasons.Explanations for each row, or None when this model cannot explain itself."""
        if self.explainer is None or not self.scorer.accepts(features):
            return None
        return self.explainer(features)

    @functools.cached_property
    def contract(self):
        """The input contract as this model's card states it (built once per process)."""
        from webapp.core.validation import Contract

        return Contract.from_card(self.card)

    @functools.cached_property
    def _positive_column(self) -> int:
        return list(self.pipeline.classes_).index(1)


def card_path(artifact: Path) -> Path:
    return Path(artifact).with_suffix(".json")


def checked_card(path) -> dict:
    """The card beside `path`, once it is readable, names this scikit-learn and matches the artifact's
    SHA-256; raise ModelLoadError otherwise. Nothing is unpickled: callers may load the file after."""
    path = Path(path)
    card_file = card_path(path)
    if not path.is_file() or not card_file.is_file():
        raise ModelLoadError(f"No model at {path} (with its card {card_file.name}). {retrain_hint(path)}")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"The model card {card_file} cannot be read: {exc}. {retrain_hint(path)}") from exc
    _check_card_shape(card, card_file, path)
    trained_with = card.get("scikit_learn_version")
    if trained_with != sklearn.__version__:
        raise ModelLoadError(
            f"The model at {path} was trained with scikit-learn {trained_with}, but {sklearn.__version__} "
            f"is installed; loading it could give wrong answers. {retrain_hint(path)}"
        )
    expected_digest = card.get("artifact", {}).get("sha256")
    if expected_digest != file_sha256(path):
        raise ModelLoadError(f"The model at {path} does not match its card (SHA-256 differs). {retrain_hint(path)}")
    return card


def load_model(path) -> LoadedModel:
    """Load `path` and the card beside it; raise ModelLoadError unless both match this environment.

    joblib runs code while loading, so only our own artifact is loaded: its SHA-256 must equal the
    card's. A scikit-learn version other than the training one is refused rather than warned about,
    because unpickling across versions can silently change predictions.
    """
    path = Path(path)
    card = checked_card(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            pipeline = joblib.load(path)
        except InconsistentVersionWarning as exc:
            raise ModelLoadError(f"{exc} {retrain_hint(path)}") from exc
        except (ImportError, AttributeError) as exc:
            # The artifact names a class whose module moved or vanished since it was trained.
            raise ModelLoadError(f"The model at {path} refers to code that is not here ({exc}). "
                                 f"{retrain_hint(path)}") from exc
    try:  # a card of a shape these checks did not foresee: a refusal, never a crashed start
        scorer = compile_scorer(pipeline, card)
        model = LoadedModel(pipeline=pipeline, card=card, path=path, scorer=scorer,
                            explainer=explainer_from_card(scorer, card))
        _ = model.contract, model.info  # built now, so a card that cannot state them fails here
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelLoadError(f"The model card {card_path(path)} does not fit its model ({type(exc).__name__}: "
                             f"{str(exc)[:100]}). {retrain_hint(path)}") from exc
    return model


FEATURE_KINDS = ("category", "number", "flag")


def _check_card_shape(card, card_file: Path, path: Path) -> None:
    """The parts of the card the service reads: an object with a name, a version, a threshold and
    features, each with a name and a known kind (categories with their allowed values)."""
    def refuse(what: str):
        raise ModelLoadError(f"The model card {card_file} is not a model card: {what}. {retrain_hint(path)}")

    if not isinstance(card, dict):
        refuse("not a JSON object")
    for key in ("name", "version"):
        if not isinstance(card.get(key), str):
            refuse(f"'{key}' is missing or not text")
    if isinstance(card.get("threshold"), bool) or not isinstance(card.get("threshold"), (int, float)):
        refuse("'threshold' is missing or not a number")
    features = card.get("features")
    if not isinstance(features, list) or not features:
        refuse("'features' is missing or not a list")
    for feature in features:
        if not (isinstance(feature, dict) and isinstance(feature.get("name"), str)
                and feature.get("kind") in FEATURE_KINDS):
            refuse("each feature needs a 'name' and a 'kind' (category, number or flag)")
        if feature["kind"] == "category" and not isinstance(feature.get("allowed"), list):
            refuse(f"the category '{feature['name'][:40]}' has no list of 'allowed' values")
