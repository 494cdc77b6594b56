import math

import pytest

from webapp.core.contract import category_key, normalise_name


@pytest.mark.parametrize("header", ["Loan_ID", "loan id", "LOAN_ID", " Loan-Id ", "loan__id", "Loan\tID", "LoanID"])
def test_header_spellings_meet(header):
    assert normalise_name(header) == "loanid"


@pytest.mark.parametrize(("value", "key"), [
    ("Male", "male"), (" MALE ", "male"), ("3+", "3"), ("3", "3"), (3, "3"), (1.0, "1"), ("1.0", "1"),
    ("Not_Graduate", "notgraduate"), ("Semi-urban", "semiurban"), ("", None), ("NA", None), ("null", None), (None, None), (math.nan, None),
])
def test_category_keys(value, key):
    assert category_key(value) == key
