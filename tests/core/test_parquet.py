"""Parquet inputs: detected by their magic, read a row group at a time, under the same limits."""
import pandas as pd
import pytest

from tests import factories
from webapp.core.errors import InputTooLarge, UnreadableInput
from webapp.core.limits import Limits
from webapp.core.reading import open_table
from webapp.core.scoring import score


def test_a_parquet_file_scores_like_its_csv(loaded_model):
    frame = factories.applications(40, seed=6)
    frame["Loan_ID"] = range(1001, 1041)  # integers in Parquet, text in the answer
    from_parquet = pd.concat(list(score(factories.parquet_bytes(frame, row_group_size=7), loaded_model,
                                        limits=Limits(chunk_rows=10))))
    from_csv = pd.concat(list(score(frame.to_csv(index=False).encode(), loaded_model)))
    assert from_parquet["Loan_ID"].tolist() == [str(i) for i in range(1001, 1041)]
    pd.testing.assert_frame_equal(from_parquet.reset_index(drop=True), from_csv.reset_index(drop=True))


def test_limits_are_checked_from_the_footer():
    data = factories.parquet_bytes(factories.applications(30))
    with pytest.raises(InputTooLarge, match="30 rows"):
        open_table(data, limits=Limits(max_rows=10))
    with pytest.raises(InputTooLarge, match="columns"):
        open_table(data, limits=Limits(max_columns=5))


def test_a_corrupt_parquet_file_is_a_clear_error():
    data = factories.parquet_bytes(factories.applications(30))
    with pytest.raises(UnreadableInput, match="Parquet"):
        list(open_table(data[:200] + data[-8:]).chunks())


def test_an_overlong_dictionary_value_is_cut_once_and_fails_its_rows():
    from tests.hostile import one_long_id_parquet

    chunks = list(open_table(one_long_id_parquet(rows=50, length=5_000)).chunks({0: "text"}))
    assert chunks[0][0].str.len().tolist() == [1_001] * 50  # one past the limit: validation reports it


def test_a_file_that_inflates_past_the_limit_is_refused_from_the_footer():
    data = factories.parquet_bytes(factories.applications(30))
    with pytest.raises(InputTooLarge, match="inflates"):
        open_table(data, limits=Limits(max_xlsx_uncompressed=100))
