"""How the model did on a file whose outcomes are known: scikit-learn's metrics on the labelled,
scored rows, with approval as the positive class.

Rows are kept (probability and label) chunk by chunk, so the figures are exact whatever the
chunking; ROC AUC needs every pair, so nothing coarser would be. Rows whose label is blank or not
recognised are counted and left out, never an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import accuracy_score, brier_score_loss, confusion_matrix, roc_auc_score

CALIBRATION_BINS = 10


@dataclass
class EvaluationTally:
    threshold: float = 0.5
    probabilities: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    unlabelled: int = 0  # scored rows whose label was blank or not recognised

    def add(self, probability: np.ndarray, labels: np.ndarray, scored: np.ndarray) -> None:
        """`labels`: 1 approved, 0 declined, -1 blank or not recognised; only scored rows count."""
        known = scored & (labels >= 0)
        self.unlabelled += int((scored & (labels < 0)).sum())
        self.probabilities.append(probability[known])
        self.labels.append(labels[known].astype(np.int8))

    def merge(self, other: "EvaluationTally") -> "EvaluationTally":
        self.probabilities += other.probabilities
        self.labels += other.labels
        self.unlabelled += other.unlabelled
        return self

    def report(self) -> dict:
        p = np.concatenate(self.probabilities) if self.probabilities else np.empty(0)
        y = np.concatenate(self.labels) if self.labels else np.empty(0, dtype=np.int8)
        report = {"rows": int(len(y)), "unlabelled": self.unlabelled}
        if not len(y):
            return {**report, "note": "No scored row has a recognised outcome (Y/N, Yes/No, 1/0)."}
        predicted = (p >= self.threshold).astype(np.int8)
        tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
        both_classes = len(np.unique(y)) == 2
        return {
            **report,
            "accuracy": round(float(accuracy_score(y, predicted)), 4),
            "roc_auc": round(float(roc_auc_score(y, p)), 4) if both_classes else None,
            "brier": round(float(brier_score_loss(y, p, labels=[0, 1])), 4),
            "confusion": {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)},
            "predicted_approval_rate": round(float(predicted.mean()), 4),
            "actual_approval_rate": round(float(y.mean()), 4),
            "calibration": calibration_table(p, y),
        }


def calibration_table(p: np.ndarray, y: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Predicted vs observed approval per probability band (0-10%, …, 90-100%)."""
    band = np.minimum((p * bins).astype(int), bins - 1)
    rows = np.bincount(band, minlength=bins)
    predicted = np.bincount(band, weights=p, minlength=bins)
    observed = np.bincount(band, weights=y, minlength=bins)
    return [{"lower": i / bins, "upper": (i + 1) / bins, "rows": int(rows[i]),
             "mean_predicted": round(float(predicted[i] / rows[i]), 4) if rows[i] else None,
             "observed_rate": round(float(observed[i] / rows[i]), 4) if rows[i] else None}
            for i in range(bins)]
