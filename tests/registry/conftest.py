"""A registry on each database in turn, a model store in tmp_path, and a second tiny model."""
from __future__ import annotations

import pytest

from tests.registry.apps import ROLES
from webapp.model import training
from webapp.registry import ModelRegistry, ModelStore


@pytest.fixture(scope="session")
def other_model_path(tmp_path_factory, training_csv):
    """Another tiny pipeline (another seed, so another artifact and version)."""
    out = tmp_path_factory.mktemp("other-model") / "other.joblib"
    options = training.TrainingOptions(folds=3, repeats=1, seed=7, quick=True, candidates=("random_forest",),
                                       n_jobs=1)
    training.save(training.train(training_csv, options, progress=lambda _: None), out)
    return out


@pytest.fixture
def registry(migrated_database, tmp_path):
    return ModelRegistry(migrated_database, ModelStore(str(tmp_path / "store")), ROLES.get)
