"""Vetting an artifact before it joins the registry, in the order that keeps a hostile file inert.

1. The card must be ours (name, version, contract, reasons) — read as JSON, nothing executed.
2. `loading.checked_card`: this scikit-learn, and the artifact's SHA-256 equal to the card's.
3. Only then is it unpickled, by an unpickler that resolves nothing but the classes and
   reconstructors a pipeline of ours is made of (scikit-learn and `webapp.model` classes, numpy
   arrays, scalars and ufuncs): a pickle naming `os.system`, `builtins.eval` or `subprocess` is
   refused before anything it names is called. The result must be a scikit-learn Pipeline (or
   one wrapped in sigmoid calibration).

A card whose hash matches is no proof of origin (anyone can write one), which is why step 3 holds
even for files that pass step 2.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
from joblib.numpy_pickle import NumpyUnpickler, _validate_fileobject_and_memmap
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from webapp.model.loading import ModelLoadError, card_path, checked_card
from webapp.model.training import MODEL_NAME

CARD_KEYS = ("name", "version", "artifact", "features", "decision_features", "threshold", "reasons")
SAFE_BUILTINS = {"slice", "set", "frozenset", "complex", "bytearray", "range"}
SAFE_CALLABLES = {
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy.random._pickle", "__bit_generator_ctor"), ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"), ("copyreg", "_reconstructor"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
}


class ArtifactRefused(ValueError):
    """The file cannot join the registry; the message says why."""


def vet(path) -> dict:
    """The card of the artifact at `path`, once the file has passed all three steps."""
    path = Path(path)
    card = _our_card(path)
    try:
        card = checked_card(path)
    except ModelLoadError as exc:
        raise ArtifactRefused(str(exc)) from None
    pipeline = restricted_load(path)
    if not isinstance(pipeline, (Pipeline, CalibratedClassifierCV)):  # calibrated: wraps our Pipeline
        raise ArtifactRefused(f"{path} holds a {type(pipeline).__name__}, not a scikit-learn Pipeline of ours.")
    return card


def _our_card(path: Path) -> dict:
    card_file = card_path(path)
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactRefused(f"{path} has no model card beside it ({card_file.name}); only artifacts written by "
                              "`flask train` (or webapp.model.training.save) can be registered.") from None
    except (OSError, ValueError) as exc:
        raise ArtifactRefused(f"The model card {card_file} cannot be read: {exc}.") from None
    missing = [key for key in CARD_KEYS if not isinstance(card, dict) or key not in card]
    if missing or card["name"] != MODEL_NAME:
        what = f"lacks {', '.join(missing)}" if missing else f"names the model {card['name']!r}"
        raise ArtifactRefused(f"{path} is not a pipeline of ours: its card {what} (expected a {MODEL_NAME} card).")
    return card


class _PipelineUnpickler(NumpyUnpickler):
    """joblib's unpickler, resolving only the names a pipeline of ours is built from."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def find_class(self, module: str, name: str):
        if not _allowed(module, name):
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which is not part of a model pipeline")
        return super().find_class(module, name)


def _allowed(module: str, name: str) -> bool:
    if (module, name) in SAFE_CALLABLES or (module == "builtins" and name in SAFE_BUILTINS):
        return True
    root = module.split(".")[0]
    if root not in ("sklearn", "numpy", "scipy") and not module.startswith("webapp.model."):
        return False
    try:
        obj = pickle.Unpickler.find_class(pickle.Unpickler.__new__(pickle.Unpickler), module, name)
    except (ImportError, AttributeError):
        return False
    if root == "numpy":  # arrays, scalars, dtypes, ufuncs and generators; never memmap (it opens files)
        return isinstance(obj, np.ufunc) or (isinstance(obj, type) and not issubclass(obj, np.memmap) and issubclass(
            obj, (np.ndarray, np.generic, np.dtype, np.random.BitGenerator, np.random.Generator,
                  np.random.SeedSequence)))
    if root == "scipy":
        return isinstance(obj, type) and module.startswith("scipy.sparse")
    return isinstance(obj, type)  # scikit-learn's and our estimators: constructors that only store


def restricted_load(path: Path):
    """Unpickle a joblib file through `_PipelineUnpickler`; ArtifactRefused on any name outside it."""
    try:
        with open(path, "rb") as fh, _validate_fileobject_and_memmap(fh, str(path), None) as (stream, _):
            if isinstance(stream, str):
                raise ArtifactRefused(f"{path} is in joblib's pre-0.10 format, which is never ours.")
            return _PipelineUnpickler(str(path), stream, ensure_native_byte_order=True).load()
    except ArtifactRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read it refuses it, with the reason
        raise ArtifactRefused(f"{path} is not a pipeline of ours: {exc}.") from None


def json_sha256(value) -> str:
    """The SHA-256 of a JSON value in canonical form (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def validation_report(card: dict) -> dict:
    """What a reviewer approves: the card's cross-validated figures, calibration, the candidates
    compared, the figures with protected attributes added, and approval parity on the training data
    when the card carries it."""
    return {
        "cv": card.get("cv"),
        "estimator": {k: v for k, v in (card.get("estimator") or {}).items() if k != "calibration"},
        "calibration": (card.get("estimator") or {}).get("calibration"),
        "candidates": card.get("candidates", []),
        "cv_with_protected_attributes": card.get("cv_with_protected_attributes"),
        "training_parity": card.get("training_parity") or card.get("approval_parity"),
        "training_data": card.get("training_data"),
        "threshold": card.get("threshold"),
    }
