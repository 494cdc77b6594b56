"""Exact explanations of a linear model's scores: each feature's contribution to the log-odds.

For a logistic regression the log-odds are a sum of per-feature terms (`fastpath.LinearScorer.terms`,
one-hot columns and the missing-value indicator summed into their input feature). A contribution is
the applicant's term minus the average term over the training population, which stands in for "all
applicants", the first reference Regulation B's commentary allows (comment 9(b)(2)-5). So
`base + sum(contributions) == log(p / (1 - p))` exactly, where `base` is the training population's
average log-odds. This is arithmetic on the fitted parameters, not an approximation; for a linear
model it equals the SHAP values with an independent-features (interventional) background.

A tree model would need SHAP's TreeExplainer; none is shipped, so other estimators get no explainer
and asking for explanations is refused clearly.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from webapp.core.reasons import HIGH, LOW, MISSING, REASONS, VALUE, Explanations

METHOD = "linear-exact"
REFERENCE = ("training population average (Regulation B comment 9(b)(2)-5: the average of all applicants); "
             "contributions are in log-odds of approval")


@dataclass(frozen=True, eq=False)
class LinearExplainer:
    scorer: object  # fastpath.LinearScorer
    reference: np.ndarray  # (F,) the training population's average term per feature
    method: str = METHOD

    @property
    def base(self) -> float:
        return float(self.scorer.intercept + self.reference.sum())

    @property
    def features(self) -> tuple[str, ...]:
        return self.scorer.feature_order

    def __call__(self, features: pd.DataFrame) -> Explanations:
        missing = np.empty((len(self.features), len(features)), dtype=bool)
        z, terms = self.scorer.log_odds(features, missing)
        contributions = (terms - self.reference[:, None]).T
        flag_values = np.asarray(features[self.scorer.flag[0]], dtype=np.float64)

        def reasons_of(rows: np.ndarray) -> np.ndarray:
            return self._reasons(contributions[rows], missing.T[rows], flag_values[rows])

        return Explanations(probability=expit(z), contributions=contributions, reasons_of=reasons_of,
                            features=self.features, base=self.base, method=self.method)

    def _reasons(self, contributions: np.ndarray, missing: np.ndarray, flag_values: np.ndarray) -> np.ndarray:
        """(n, F): which reason each feature would be cited as, from how its value lowers the score:
        missing; a category's value; a number above or below the reference (a number lowers the
        score from above when its coefficient is negative); the credit flag at 0 or 1."""
        table = self._table
        above = contributions * table["coef"] > 0
        above[:, self.features.index(self.scorer.flag[0])] = flag_values > 0.5
        ways = np.where(table["category"], table[VALUE], np.where(above, table[HIGH], table[LOW]))
        return np.where(missing, table[MISSING], ways).astype(np.int16)

    @functools.cached_property
    def _table(self) -> dict[str, np.ndarray]:
        """Per feature: its reason index for each way, whether it is a category, its coefficient."""
        indices = [_reason_index(name) for name in self.features]
        coefficients = {name: coef for name, _, _, _, coef in self.scorer.numbers}
        return {**{way: np.array([i[way] for i in indices]) for way in (VALUE, LOW, HIGH, MISSING)},
                "category": np.array([name in self.scorer.categories for name in self.features]),
                "coef": np.array([coefficients.get(name, 0.0) for name in self.features])}


def _reason_index(feature: str) -> dict[str, int]:
    """way -> index into REASONS for one feature (-1 where the table has no such way)."""
    index = {VALUE: -1, LOW: -1, HIGH: -1, MISSING: -1}
    for i, reason in enumerate(REASONS):
        if reason.feature == feature:
            index[reason.way] = i
    return index


def training_reference(scorer, features: pd.DataFrame) -> dict:
    """The card's `explanation`: each feature's average term over the training rows (`features`,
    as validation hands them to the model)."""
    reference = scorer.terms(features).mean(axis=1)
    return {"method": METHOD, "reference": REFERENCE, "base_log_odds": float(scorer.intercept + reference.sum()),
            "reference_terms": {name: float(value) for name, value in zip(scorer.feature_order, reference)}}


def explainer_from_card(scorer, card: dict) -> LinearExplainer | None:
    explanation = card.get("explanation") or {}
    terms = explanation.get("reference_terms")
    if scorer is None or not terms or set(terms) != set(scorer.feature_order):
        return None
    return LinearExplainer(scorer, np.array([terms[name] for name in scorer.feature_order]))
