"""Parquet inputs: detected by their magic, read a row group at a time, under the same limits."""
import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import factories
from webapp.core.errors import InputTooLarge, UnreadableInput
from webapp.core.limits import Limits
from webapp.core.reading import open_table
from webapp.core.scoring import score
from webapp.core.table import NUMBER, TEXT


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


def test_a_damaged_column_is_named_in_the_error(tmp_path):
    """The reader's own error says what failed, never where: the column is found and named."""
    table = pa.table({"Loan_ID": [f"LP{i}" for i in range(100)], "LoanAmount": [float(i) for i in range(100)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    data = bytearray(buffer.getvalue())
    chunk = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0).column(1)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start:start + 12] = b"\xff" * 12  # the column's first page header
    with pytest.raises(UnreadableInput) as caught:
        list(open_table(bytes(data)).chunks({0: TEXT, 1: NUMBER}))
    assert caught.value.message.startswith("The column 'LoanAmount' of the Parquet file could not be read (OSError)")
