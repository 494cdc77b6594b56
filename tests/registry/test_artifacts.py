"""Registering refuses what is not ours before anything in it can run: a file without a card, a
card that does not match, another scikit-learn, and a pickle that would run code even when its
card matches."""
from __future__ import annotations

import json
import shutil

import joblib
import pytest

from webapp.model.loading import card_path, file_sha256
from webapp.registry import Refused
from webapp.registry.artifacts import ArtifactRefused, vet

ADA = "ada@bank.example"


class Payload:
    """Unpickling this touches `marker`: proof of whether the file was ever unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def hostile(tmp_path, model_path):
    """A joblib file that runs a shell command when loaded, beside a copy of a real card."""
    marker = tmp_path / "pwned"
    path = tmp_path / "hostile.joblib"
    joblib.dump(Payload(marker), path)
    shutil.copy(card_path(model_path), card_path(path))
    return path, marker


def rewrite_card(path, **changes):
    card = json.loads(card_path(path).read_text())
    card.update(changes)
    card_path(path).write_text(json.dumps(card))


def test_a_hostile_pickle_beside_someone_elses_card_is_refused_unread(registry, hostile):
    path, marker = hostile
    with pytest.raises(Refused, match="does not match its card") as caught:
        registry.register(path, by=ADA)
    assert caught.value.status == 422
    assert not marker.exists() and registry.versions() == []


def test_a_hostile_pickle_with_a_card_matching_its_hash_is_refused_before_its_code_runs(registry, hostile):
    path, marker = hostile
    card = json.loads(card_path(path).read_text())
    rewrite_card(path, artifact={**card["artifact"], "sha256": file_sha256(path)})
    with pytest.raises(Refused, match=r"posix\.system|os\.system|not part of a model pipeline"):
        registry.register(path, by=ADA)
    assert not marker.exists() and registry.versions() == []


def test_the_payload_would_run_if_loaded_plainly(hostile):
    """The control: the marker proves a load when one happens."""
    path, marker = hostile
    joblib.load(path)
    assert marker.exists()


def test_a_file_without_a_card_is_refused(tmp_path, model_path):
    path = tmp_path / "bare.joblib"
    shutil.copy(model_path, path)
    with pytest.raises(ArtifactRefused, match="no model card"):
        vet(path)


@pytest.mark.parametrize("change, message", [
    ({"name": "someone-else"}, "not a pipeline of ours"),
    ({"scikit_learn_version": "0.24.2"}, "trained with scikit-learn 0.24.2"),
])
def test_a_card_not_ours_or_for_another_scikit_learn_is_refused(tmp_path, model_path, change, message):
    path = tmp_path / "copy.joblib"
    shutil.copy(model_path, path)
    shutil.copy(card_path(model_path), card_path(path))
    rewrite_card(path, **change)
    with pytest.raises(ArtifactRefused, match=message):
        vet(path)


def test_a_card_missing_the_contract_is_refused(tmp_path, model_path):
    path = tmp_path / "copy.joblib"
    shutil.copy(model_path, path)
    card = json.loads(card_path(model_path).read_text())
    del card["features"]
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(ArtifactRefused, match="lacks features"):
        vet(path)


def test_an_artifact_edited_after_training_is_refused(tmp_path, model_path):
    path = tmp_path / "copy.joblib"
    path.write_bytes(model_path.read_bytes() + b"\0")
    shutil.copy(card_path(model_path), card_path(path))
    with pytest.raises(ArtifactRefused, match="SHA-256 differs"):
        vet(path)


def test_an_object_that_is_not_a_pipeline_is_refused(tmp_path, model_path):
    path = tmp_path / "array.joblib"
    joblib.dump([1, 2, 3], path)
    shutil.copy(card_path(model_path), card_path(path))
    rewrite_card(path, artifact={"file": path.name, "sha256": file_sha256(path)})
    with pytest.raises(ArtifactRefused, match="not a scikit-learn Pipeline"):
        vet(path)


def test_our_pipelines_pass(model_path, other_model_path):
    assert vet(model_path)["name"] == vet(other_model_path)["name"] == "loan-approval"
