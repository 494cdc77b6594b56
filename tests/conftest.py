from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import factories
from webapp import create_app, training

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def training_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.csv"
    factories.applications(120, seed=1, labelled=True).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def model_path(tmp_path_factory, training_csv) -> Path:
    """A tiny pipeline trained in-process, so tests need neither ../shared nor the shipped model."""
    out = tmp_path_factory.mktemp("model") / "tiny.joblib"
    options = training.TrainingOptions(folds=3, repeats=1, quick=True)
    training.save(training.train(training_csv, options, progress=lambda _: None), out)
    return out


@pytest.fixture
def app(model_path, tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    return create_app({
        "TESTING": True,
        "SECRET_KEY": "test",
        "MODEL_PATH": str(model_path),
        "UPLOAD_FOLDER": str(uploads),
        "WTF_CSRF_ENABLED": False,
    })


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "loan_test.csv").exists():
        pytest.skip("../shared/data is not beside the project")
    return SHARED_DATA


@pytest.fixture(scope="session")
def loaded_model(model_path):
    from webapp.model import load_model

    return load_model(model_path)
