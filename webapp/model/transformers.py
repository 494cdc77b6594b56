"""Custom scikit-learn pieces of the loan pipeline.

They live in the package (not in a training script) so a pickled pipeline unpickles anywhere
`webapp` is importable.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from webapp.core.contract import category_key, cell_text


class LenientOrdinalEncoder(TransformerMixin, BaseEstimator):
    """Encode categories as their index among the training values; NaN when missing or unknown.

    Matching uses `contract.category_key`, so `male`, ` MALE ` and `Male` are one category, `3` is
    the training data's `3+`, and a column read as numbers (`0`, `1.0`) meets the training strings
    `"0"`, `"1"`. Unknown values become NaN for the next step to impute: the pipeline never fails a
    whole batch for one odd cell (row validation reports such cells before scoring).
    """

    def fit(self, X, y=None):
        X = self._validate(X, reset=True)
        self.categories_ = []
        for column in X.T:
            spellings: dict[str, str] = {}
            for value in pd.unique(column):
                key = category_key(value)
                if key is not None:
                    spellings.setdefault(key, cell_text(value))
            self.categories_.append(np.array(sorted(spellings.values()), dtype=object))
        return self

    def transform(self, X):
        check_is_fitted(self, "categories_")
        columns = self._columns(X)
        out = np.empty((len(columns[0]) if columns else 0, len(columns)), dtype=np.float64)
        for j, (column, categories) in enumerate(zip(columns, self.categories_)):
            index = {category_key(c): float(i) for i, c in enumerate(categories)}
            # Work per distinct value: pandas Categoricals carry them already, anything else is factorised.
            if isinstance(column.dtype, pd.CategoricalDtype):
                codes, uniques = column.cat.codes.to_numpy(), column.cat.categories
            else:
                codes, uniques = pd.factorize(np.asarray(column, dtype=object), use_na_sentinel=True)
            table = np.array([index.get(category_key(u), np.nan) for u in uniques] + [np.nan])
            out[:, j] = table[codes]  # code -1 (missing) picks the trailing NaN
        return out

    def _columns(self, X) -> list:
        """The columns of X as Series (DataFrame input keeps its dtypes) or arrays, after scikit-learn's
        checks of feature names and counts."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=False, skip_check_array=True)
            if X.shape[0] < 1:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
            return [column for _, column in X.items()]
        X = self._validate(X, reset=False)
        return [pd.Series(X[:, j], dtype=object) for j in range(X.shape[1])]

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "categories_")
        return _check_feature_names_in(self, input_features)

    def _validate(self, X, *, reset):
        return validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags
