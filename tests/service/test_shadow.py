"""The challenger in shadow: the champion's answer byte for byte as without it, and a summary that
counts agreement, flips each way and the probability shift right on a constructed case."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.factories import applications
from webapp.service import ScoringOptions, score_input


class Shifted:
    """The champion's model with every probability moved by `shift` (a challenger we can reason about)."""

    def __init__(self, model, shift: float, version: str = "challenger-1"):
        self.model, self.shift, self.version = model, shift, version
        self.threshold = model.threshold

    def approval_probability(self, features):
        return np.clip(self.model.approval_probability(features) + self.shift, 0, 1)


def _bytes(answer) -> bytes:
    with answer.file:
        return answer.file.read()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_champion_answer_is_byte_identical_with_a_challenger(loaded_model, fmt):
    source = applications(60, seed=5).to_csv(index=False).encode()
    options = ScoringOptions(format=fmt, explain=True)
    alone = score_input(source, loaded_model, options)
    shadowed = score_input(source, loaded_model, options, challenger=Shifted(loaded_model, 0.1))
    assert _bytes(shadowed) == _bytes(alone)
    assert {k: v for k, v in shadowed.report.items() if k != "challenger"} == alone.report


def test_json_records_are_unchanged_and_only_the_summary_gains_challenger(loaded_model):
    source = applications(20, seed=2).to_csv(index=False).encode()
    alone = score_input(source, loaded_model, ScoringOptions(format="json")).json()
    shadowed = score_input(source, loaded_model, ScoringOptions(format="json"), challenger=Shifted(loaded_model, 0)).json()
    assert shadowed["predictions"] == alone["predictions"]
    assert set(shadowed["summary"]) - set(alone["summary"]) == {"challenger"}


def test_the_summary_counts_agreement_flips_and_the_shift(loaded_model):
    frame = applications(80, seed=9)
    frame.loc[:4, "Property_Area"] = "Mars"  # five rows fail: neither model scores them
    source = frame.to_csv(index=False).encode()
    shift = 0.15
    answer = score_input(source, loaded_model, ScoringOptions(format="csv"),
                         challenger=Shifted(loaded_model, shift))
    with answer.file:
        result = pd.read_csv(answer.file)
    valid = result["Error"].isna().to_numpy()
    report = answer.report["challenger"]
    probability = _unrounded(loaded_model, source)
    challenger = np.clip(probability + shift, 0, 1)
    t = loaded_model.threshold
    assert report["version"] == "challenger-1" and report["champion"] == loaded_model.version
    assert report["rows"] == int(valid.sum()) == 75
    flips_up = int(((probability < t) & (challenger >= t))[valid].sum())
    assert report["flips"] == {"declined_to_approved": flips_up, "approved_to_declined": 0}
    assert report["agreement"] == round((75 - flips_up) / 75, 4)
    assert report["mean_probability_shift"] == pytest.approx(float((challenger - probability)[valid].mean()), abs=1e-6)
    assert "evaluation" not in report


def _unrounded(model, source: bytes) -> np.ndarray:
    from webapp.service import open_scoring

    probability = [chunk.probability for chunk in open_scoring(source, model, ScoringOptions(format="csv")).chunks()]
    return np.concatenate(probability)


def test_on_a_labelled_file_both_evaluations_sit_side_by_side(loaded_model):
    source = applications(60, seed=4, labelled=True).to_csv(index=False).encode()
    answer = score_input(source, loaded_model, ScoringOptions(format="csv"), challenger=Shifted(loaded_model, 0.0))
    answer.file.close()
    report = answer.report["challenger"]
    assert report["agreement"] == 1.0 and report["mean_probability_shift"] == 0
    assert report["evaluation"]["champion"] == report["evaluation"]["challenger"]
    assert report["evaluation"]["champion"] == answer.report["evaluation"]  # the champion's own evaluation


def test_a_failing_challenger_never_fails_the_batch(loaded_model):
    class Broken(Shifted):
        def approval_probability(self, features):
            raise RuntimeError("boom")

    source = applications(10).to_csv(index=False).encode()
    alone = score_input(source, loaded_model, ScoringOptions(format="csv"))
    shadowed = score_input(source, loaded_model, ScoringOptions(format="csv"), challenger=Broken(loaded_model, 0))
    assert _bytes(shadowed) == _bytes(alone)
    assert "RuntimeError" in shadowed.report["challenger"]["error"]
