"""The challenger tally on constructed arrays: agreement, flips each way, the mean shift, both
evaluations on labelled rows, and the same figures however the rows are chunked."""
import numpy as np
import pytest

from webapp.stats.challenger import ChallengerTally

CHAMPION_P = np.array([0.9, 0.8, 0.2, 0.1, 0.6, 0.4])
CHALLENGER_P = np.array([0.95, 0.3, 0.7, 0.1, 0.65, 0.45])
VALID = np.array([True, True, True, True, True, False])
LABELS = np.array([1, 0, 1, -1, 1, 0])


def tally(rows=slice(None), labels=None) -> ChallengerTally:
    t = ChallengerTally("v2")
    t.add(CHAMPION_P[rows] >= 0.5, CHALLENGER_P[rows] >= 0.5, CHAMPION_P[rows], CHALLENGER_P[rows], VALID[rows],
          None if labels is None else labels[rows])
    return t


def test_agreement_flips_and_shift_count_only_scored_rows():
    report = tally().report()
    assert report["version"] == "v2" and report["rows"] == 5
    assert report["agreement"] == 0.6  # rows 0, 3, 4 agree; 1 and 2 flip; 5 was not scored
    assert report["flips"] == {"declined_to_approved": 1, "approved_to_declined": 1}
    assert report["mean_probability_shift"] == pytest.approx((0.05 - 0.5 + 0.5 + 0 + 0.05) / 5)
    assert "evaluation" not in report


def test_labelled_files_get_both_evaluations_side_by_side():
    evaluation = tally(labels=LABELS).report()["evaluation"]
    assert evaluation["champion"]["rows"] == evaluation["challenger"]["rows"] == 4  # row 3 unlabelled, 5 unscored
    assert evaluation["champion"]["accuracy"] == 0.5 and evaluation["challenger"]["accuracy"] == 1.0


def test_chunks_merge_to_the_whole():
    whole = tally(labels=LABELS).report()
    merged = tally(slice(0, 2), LABELS).merge(tally(slice(2, 4), LABELS)).merge(tally(slice(4, 6), LABELS))
    assert merged.report() == whole


def test_an_empty_tally_reports_no_figures():
    assert ChallengerTally("v2").report()["agreement"] is None


def test_tallies_of_different_challengers_do_not_merge():
    with pytest.raises(ValueError):
        ChallengerTally("v2").merge(ChallengerTally("v3"))
