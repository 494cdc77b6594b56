"""The loan-approval pipeline's shape: preprocessing plus a classifier.

It predicts from a DataFrame holding the decision features as `pandas.read_csv` gives them for the
loan files (strings for categoricals, numbers for numbers, NaN where empty). The shipped model uses
`contract.DECISION_FEATURES` only: Gender, Married and Dependents never reach it.
"""
from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from webapp.core.contract import CATEGORICAL_FEATURES, DECISION_FEATURES, FLAG_FEATURES, NUMERIC_FEATURES
from webapp.model.transformers import LenientOrdinalEncoder


def build_preprocessor(features: tuple[str, ...] = DECISION_FEATURES) -> ColumnTransformer:
    categorical = make_pipeline(
        LenientOrdinalEncoder(),
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    # Incomes and amounts are heavily skewed: log1p helps the linear candidate and costs trees nothing.
    numeric = make_pipeline(
        SimpleImputer(strategy="median"),
        FunctionTransformer(np.log1p, feature_names_out="one-to-one"),
        StandardScaler(),
    )
    # A missing credit history is informative in itself, so it gets its own indicator.
    flag = SimpleImputer(strategy="most_frequent", add_indicator=True)
    return ColumnTransformer(
        [
            ("category", categorical, [f for f in CATEGORICAL_FEATURES if f in features]),
            ("number", numeric, [f for f in NUMERIC_FEATURES if f in features]),
            ("flag", flag, [f for f in FLAG_FEATURES if f in features]),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def build_pipeline(classifier, features: tuple[str, ...] = DECISION_FEATURES) -> Pipeline:
    return Pipeline([("preprocess", build_preprocessor(features)), ("classifier", classifier)])
