import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from webapp.model.transformers import LenientOrdinalEncoder


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array-API checks need SCIPY_ARRAY_API
def test_follows_scikit_learn_conventions():
    check_estimator(LenientOrdinalEncoder())


def test_matches_case_whitespace_plus_sign_and_numbers():
    encoder = LenientOrdinalEncoder().fit(np.array([["Male", "0"], ["Female", "3+"], [None, "1"]], dtype=object))
    assert [list(c) for c in encoder.categories_] == [["Female", "Male"], ["0", "1", "3+"]]
    encoded = encoder.transform(np.array([[" male ", "3"], ["FEMALE", 0], [np.nan, 1.0]], dtype=object))
    np.testing.assert_array_equal(encoded, [[1, 2], [0, 0], [np.nan, 1]])


def test_unknown_values_become_missing_rather_than_failing_the_batch():
    encoder = LenientOrdinalEncoder().fit(np.array([["Male"], ["Female"]], dtype=object))
    assert np.isnan(encoder.transform(np.array([["Robot"]], dtype=object))[0, 0])
