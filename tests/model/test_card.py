"""The typed model card: the loaded model's name, version, threshold and features read as
attributes of one checked object, built once at load."""
from webapp.model.card import FeatureSpec, ModelCard


def test_the_loaded_model_reads_its_card_through_the_typed_view(loaded_model):
    info = loaded_model.info
    assert isinstance(info, ModelCard) and info is loaded_model.info  # built once
    assert (loaded_model.name, loaded_model.version, loaded_model.threshold) == (info.name, info.version,
                                                                                  info.threshold)
    assert info.artifact_sha256 == loaded_model.card["artifact"]["sha256"] == loaded_model.artifact_sha256
    assert set(info.decision_features) >= {"Credit_History", "ApplicantIncome"}
    assert "Gender" in info.monitored_attributes and "Gender" not in info.decision_features
    credit = next(f for f in info.features if f.name == "Property_Area")
    assert isinstance(credit, FeatureSpec) and credit.kind == "category" and "Urban" in credit.allowed


def test_the_typed_card_is_read_only(loaded_model):
    import dataclasses

    import pytest

    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded_model.info.threshold = 0.1
    with pytest.raises(TypeError):
        loaded_model.info.raw["threshold"] = 0.1
