"""The fitted loan pipeline's arithmetic in plain numpy, for scoring validated frames fast.

A scikit-learn Pipeline pays a fixed cost of several milliseconds per call (column dispatch, checks,
DataFrame plumbing), and its one-hot branch re-derives, row by row, what is a table lookup. For the
pipeline shape `webapp.model.pipeline` builds with a logistic regression, the log-odds are a sum of
per-category coefficients, per-number terms and a flag term, so they are computed here from the
artifact's own fitted parameters. Nothing is retrained or approximated: `compile_scorer` checks the
result against `predict_proba` on a sample covering every category and missing values, and returns
None (the pipeline then scores everything) for any other shape or any disagreement.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from webapp.utils.caching import per_object

log = logging.getLogger(__name__)
TOLERANCE = 1e-9
MAX_KEPT_CATEGORIES = 64  # a feature's categories up to this many have their terms' table kept


@dataclass(frozen=True)
class LinearScorer:
    intercept: float
    categories: dict[str, tuple[dict[str, float], float]]  # name -> (log-odds by category, if missing)
    numbers: tuple[tuple[str, float, float, float, float], ...]  # name, fill, mean, scale, coef
    flag: tuple[str, float, float, float]  # name, fill, coef, coef of the missing indicator

    def accepts(self, features) -> bool:
        """Validated inputs only (`core.results.FeatureColumns`, or a DataFrame of the same columns):
        categoricals as pandas Categoricals, everything else numeric."""
        return all(isinstance(features[name].dtype, pd.CategoricalDtype) for name in self.categories)

    @property
    def feature_order(self) -> tuple[str, ...]:
        """The features whose log-odds terms `terms` gives, in its row order."""
        return (*self.categories, *(number[0] for number in self.numbers), self.flag[0])

    def terms(self, features: pd.DataFrame, missing: np.ndarray | None = None) -> np.ndarray:
        """(F, n): each feature's term of the log-odds (one-hot columns and the missing indicator
        summed into the feature they came from). `missing`, an (F, n) boolean array, if given, is
        filled with where each feature was missing (and imputed)."""
        out = np.empty((len(self.feature_order), len(features)))
        row = 0
        for name, terms in self.categories.items():
            codes, categories = _codes(features[name])
            out[row] = _terms_table(categories, terms)[codes]  # code -1 (missing) takes the last entry
            if missing is not None:
                missing[row] = codes < 0
            row += 1
        for name, fill, mean, scale, coef in self.numbers:
            x = np.asarray(features[name], dtype=np.float64)
            absent = np.isnan(x)
            out[row] = coef * (np.log1p(np.where(absent, fill, x)) - mean) / scale
            if missing is not None:
                missing[row] = absent
            row += 1
        name, fill, coef, indicator_coef = self.flag
        x = np.asarray(features[name], dtype=np.float64)
        absent = np.isnan(x)
        out[row] = coef * np.where(absent, fill, x) + indicator_coef * absent
        if missing is not None:
            missing[row] = absent
        return out

    def log_odds(self, features: pd.DataFrame, missing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The log-odds of approval and the terms they are the sum of (added in a fixed order, so
        the probability is the same bit for bit whether or not it is explained)."""
        terms = self.terms(features, missing)
        z = np.full(len(features), self.intercept)
        for term in terms:
            z += term
        return z, terms

    def __call__(self, features: pd.DataFrame) -> np.ndarray:
        return expit(self.log_odds(features)[0])


@per_object(at_most=MAX_KEPT_CATEGORIES)
def _terms_table(categories: pd.Index, terms: tuple[dict[str, float], float]) -> np.ndarray:
    """Each category's log-odds term, then the missing one's. Validated chunks share their dtype's
    categories, so the table is made once per (categories, feature's terms): building it per call
    was a third of a single record's scoring."""
    by_category, if_missing = terms
    return np.array([by_category.get(c, if_missing) for c in categories] + [if_missing])


def _codes(column) -> tuple[np.ndarray, pd.Index]:
    """A Categorical's codes (-1 missing) and categories, whether it comes bare or in a Series."""
    if isinstance(column, pd.Series):
        column = column.array
    return column.codes, column.categories


def compile_scorer(pipeline, card: dict) -> LinearScorer | None:
    """A LinearScorer equal to `pipeline.predict_proba(...)[:, 1]`, or None."""
    try:
        scorer = _build(pipeline)
    except (AttributeError, KeyError, ValueError, TypeError, IndexError) as exc:
        log.info("fast path not used: pipeline shape not recognised (%s)", exc)
        return None
    sample, validated = _sample(card)
    expected = pipeline.predict_proba(sample)[:, list(pipeline.classes_).index(1)]
    difference = float(np.max(np.abs(scorer(validated) - expected)))
    if not difference <= TOLERANCE:
        log.warning("fast path not used: differs from predict_proba by %.3g", difference)
        return None
    return scorer


def _build(pipeline) -> LinearScorer:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from webapp.model.transformers import LenientOrdinalEncoder

    preprocess, classifier = pipeline.named_steps["preprocess"], pipeline.named_steps["classifier"]
    if type(classifier) is not LogisticRegression or list(classifier.classes_) != [0, 1]:
        raise TypeError("not a binary logistic regression")
    coef = classifier.coef_[0]
    offset, categories, numbers, flag = 0, {}, [], None
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder":
            continue
        if name == "category":
            encoder, imputer, onehot = (step for _, step in transformer.steps)
            if not isinstance(transformer, Pipeline) or type(encoder) is not LenientOrdinalEncoder \
                    or onehot.drop_idx_ is not None:
                raise TypeError("unexpected categorical branch")
            for j, column in enumerate(columns):
                seen = list(onehot.categories_[j])
                weights = {str(c): (float(coef[offset + seen.index(float(i))]) if float(i) in seen else 0.0)
                           for i, c in enumerate(encoder.categories_[j])}
                fill = encoder.categories_[j][int(imputer.statistics_[j])]
                categories[column] = (weights, weights[str(fill)])
                offset += len(seen)
        elif name == "number":
            imputer, log1p, scaler = (step for _, step in transformer.steps)
            if log1p.func is not np.log1p or imputer.add_indicator:
                raise TypeError("unexpected numeric branch")
            for j, column in enumerate(columns):
                numbers.append((column, float(imputer.statistics_[j]), float(scaler.mean_[j]),
                                float(scaler.scale_[j]), float(coef[offset + j])))
            offset += len(columns)
        elif name == "flag":
            (column,) = columns
            has_indicator = transformer.add_indicator and len(transformer.indicator_.features_) == 1
            flag = (column, float(transformer.statistics_[0]), float(coef[offset]),
                    float(coef[offset + 1]) if has_indicator else 0.0)
            offset += 2 if has_indicator else 1
        else:
            raise TypeError(f"unexpected branch {name}")
    if offset != len(coef) or flag is None:
        raise ValueError("coefficients do not line up with the preprocessing")
    return LinearScorer(float(classifier.intercept_[0]), categories, tuple(numbers), flag)


def _sample(card: dict, rows: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same applications twice: as read_csv gives them, and as validation hands them on.
    Every category and a missing value appear in every categorical; numbers span their range."""
    rng = np.random.default_rng(0)
    raw, validated = {}, {}
    for feature in card["features"]:
        if not feature.get("decides", True):
            continue  # monitored only: the pipeline never sees it
        name = feature["name"]
        if feature["kind"] == "category":
            choices = [*feature["allowed"], None]
            values = [choices[i % len(choices)] for i in rng.permutation(rows)]
            raw[name] = pd.Series(values, dtype=object)
            validated[name] = pd.Categorical(values, categories=sorted(feature["allowed"]))
        else:
            if feature["kind"] == "flag":
                values = rng.choice([0.0, 1.0, np.nan], size=rows)
            else:
                values = np.exp(rng.uniform(0, np.log1p(min(feature.get("maximum") or 1e6, 1e6)), size=rows)) - 1
                values[rng.random(rows) < 0.1] = np.nan
            raw[name] = values
            validated[name] = values
    return pd.DataFrame(raw), pd.DataFrame(validated)
