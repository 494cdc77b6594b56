"""Evaluation on labelled files: scikit-learn's figures, computed here independently."""
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, brier_score_loss, confusion_matrix, roc_auc_score

from webapp.core.contract import outcome_label
from webapp.stats.evaluation import EvaluationTally


@pytest.fixture
def labelled():
    rng = np.random.default_rng(3)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(np.int8)
    return p, y


def test_figures_equal_scikit_learns(labelled):
    p, y = labelled
    tally = EvaluationTally(threshold=0.5)
    for start in range(0, 500, 77):  # chunked, as files are scored
        tally.add(p[start:start + 77], y[start:start + 77], np.ones(len(y[start:start + 77]), dtype=bool))
    report = tally.report()
    predicted = (p >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, predicted).ravel()
    assert report["rows"] == 500
    assert report["accuracy"] == round(accuracy_score(y, predicted), 4)
    assert report["roc_auc"] == round(roc_auc_score(y, p), 4)
    assert report["brier"] == round(brier_score_loss(y, p), 4)
    assert report["confusion"] == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert report["predicted_approval_rate"] == round(predicted.mean(), 4)
    assert report["actual_approval_rate"] == round(y.mean(), 4)
    calibration = report["calibration"]
    assert len(calibration) == 10 and sum(band["rows"] for band in calibration) == 500
    band = (p >= 0.3) & (p < 0.4)
    assert calibration[3]["observed_rate"] == round(y[band].mean(), 4)
    assert calibration[3]["mean_predicted"] == round(p[band].mean(), 4)


def test_unlabelled_and_failed_rows_are_left_out(labelled):
    p, y = labelled
    labels = y.copy()
    labels[:20] = -1
    scored = np.ones(500, dtype=bool)
    scored[20:30] = False
    tally = EvaluationTally()
    tally.add(p, labels, scored)
    report = tally.report()
    assert report["rows"] == 470 and report["unlabelled"] == 20


def test_one_class_has_no_roc_auc():
    tally = EvaluationTally()
    tally.add(np.array([0.2, 0.9]), np.array([1, 1]), np.ones(2, dtype=bool))
    assert tally.report()["roc_auc"] is None


@pytest.mark.parametrize(("value", "label"), [("Y", 1), ("yes", 1), (" YES ", 1), ("1", 1), (1.0, 1), ("N", 0),
                                              ("No", 0), ("0", 0), ("", -1), (None, -1), ("maybe", -1)])
def test_outcome_labels(value, label):
    assert outcome_label(value) == label
