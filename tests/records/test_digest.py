"""The canonical serialisation: exact, chunking-independent, nulls distinct from empties."""
import pyarrow as pa

from tests.records.conftest import decisions
from webapp.records.archive import normalise
from webapp.records.digest import DataDigest, loan_key, loan_keys


def digest_of(*tables):
    digest = DataDigest()
    for table in tables:
        digest.update(normalise(table))
    return digest.hexdigest()


def test_the_digest_does_not_depend_on_how_the_rows_were_chunked():
    whole = decisions([f"L{i}" for i in range(10)])
    assert digest_of(whole) == digest_of(whole.slice(0, 3), whole.slice(3, 6), whole.slice(9))


def test_a_null_is_not_an_empty_string():
    table = decisions(["A"])
    empty = table.set_column(table.column_names.index("input.Gender"), "input.Gender", pa.array([""]))
    null = table.set_column(table.column_names.index("input.Gender"), "input.Gender", pa.array([None], pa.string()))
    assert digest_of(empty) != digest_of(null)


def test_the_last_bit_of_a_probability_counts():
    p = 0.7
    assert digest_of(decisions(["A"], probabilities=[p])) != digest_of(decisions(["A"], probabilities=[p + 2**-53]))


def test_moving_bytes_between_neighbouring_ids_counts():
    assert digest_of(decisions(["AB", "C"])) != digest_of(decisions(["A", "BC"]))


def test_the_loan_key_is_fnv1a_64_of_the_utf8_bytes():
    assert loan_key("") == -3750763034362895579  # 0xcbf29ce484222325 as signed
    assert loan_key("a") == 0xAF63DC4C8601EC8C - 2**64
    assert loan_keys(pa.array(["a", "LP001015", "ü"])).tolist()[0] == loan_key("a")
    assert loan_key("LP001015") != loan_key("LP001016")
