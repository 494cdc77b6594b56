"""The canonical serialisation: exact, chunking-independent, nulls distinct from empties."""
from datetime import datetime

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

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


cells = st.one_of(st.none(), st.text(max_size=6))
numbers = st.one_of(st.none(), st.floats(allow_nan=False), st.just(-0.0))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(cells, numbers, st.one_of(st.none(), st.lists(st.text(max_size=4), max_size=3)),
                               st.lists(st.floats(allow_nan=False), max_size=3), cells), min_size=1, max_size=30))
def test_the_python_and_numpy_serialisations_agree(rows):
    ids, probabilities, codes, contributions, gender = zip(*rows)
    table = pa.table({"row": pa.array(range(1, len(rows) + 1), pa.int64()), "loan_id": pa.array(ids, pa.string()),
                      "status": pa.array(ids, pa.string()), "probability": pa.array(probabilities, pa.float64()),
                      "error": pa.nulls(len(rows), pa.string()), "reason_codes": pa.array(codes, pa.list_(pa.string())),
                      "reason_contributions": pa.array(contributions, pa.list_(pa.float64())),
                      "input.Gender": pa.array(gender, pa.string()), "input.Empty": pa.nulls(len(rows))})
    table = normalise(table)
    python, vectorised = DataDigest(), DataDigest()
    python.update(table)  # up to SMALL_ROWS rows: the Python path
    for name in table.column_names:
        vectorised._column(name, table[name].combine_chunks())
    assert python.hexdigest() == vectorised.hexdigest()


def test_a_summary_with_numpy_values_and_nan_is_stored_as_plain_json():
    import numpy as np

    from webapp.records.digest import canonical_json

    assert canonical_json({"b": np.int64(3), "a": [np.float64(0.5), float("nan")], "c": float("inf")}) == \
        '{"a":[0.5,null],"b":3,"c":null}'


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=80))
def test_a_few_ids_are_keyed_in_python_exactly_as_many_are_in_numpy(ids):
    import webapp.records.digest as digest

    small = loan_keys(pa.array(ids, pa.string()))
    saved, digest.SMALL_ROWS = digest.SMALL_ROWS, 0
    try:
        assert small.tolist() == loan_keys(pa.array(ids, pa.string())).tolist()
    finally:
        digest.SMALL_ROWS = saved


def test_canonical_json_writes_numpy_scalars_and_non_finite_numbers_as_the_walked_value_would():
    import json

    from webapp.records.digest import _plain, canonical_json

    def walked(value):
        return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False, default=str)

    summary = {"rows": np.int64(3), "rate": np.float64(0.1), "flag": np.bool_(True), "shares": (0.5, 0.25),
               "z": {"b": [1, "é"], "a": None}, "when": datetime(2026, 1, 1), 7: "seven"}
    for value in (summary, {**summary, "psi": float("nan")}, {"x": np.float32(1.5), "inf": np.float64("inf")}):
        assert canonical_json(value) == walked(value)


def _general(array: pa.Array) -> str:
    """A column's digest through the general serialisation (`valid` bytes, cast, fill, copy)."""
    general = DataDigest()
    general._numbers_without_nulls = lambda name, array: False
    general._text_from_buffers = lambda name, array: False
    general._column("c", array)
    return general.hexdigest()


def _direct(array: pa.Array) -> str:
    direct = DataDigest()
    direct._column("c", array)
    return direct.hexdigest()


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.text(max_size=8), min_size=1, max_size=40), numbers=st.lists(
    st.one_of(st.floats(), st.just(-0.0)), min_size=1, max_size=40), start=st.integers(0, 5))
def test_columns_without_nulls_hash_from_their_buffers_exactly_as_serialised(texts, numbers, start):
    # Slices too: an array's offset into its buffers must be honoured.
    for array in (pa.array(texts, pa.string()), pa.array(numbers, pa.float64()),
                  pa.array(range(len(numbers)), pa.int64())):
        part = array.slice(min(start, len(array) - 1))
        assert part.null_count == 0
        assert _direct(part) == _general(part)


def test_the_digest_of_a_known_table_stays_what_version_1_wrote():
    # Pinned: archives written before must verify with the code of today.
    table = normalise(decisions(["LP001002", "LP001003", ""], probabilities=[0.25, 0.75, 0.5]))
    digest = DataDigest()
    digest.update(table)  # three rows: the Python path
    vectorised = DataDigest()
    for name in table.column_names:
        vectorised._column(name, table[name].combine_chunks())
    assert digest.hexdigest() == vectorised.hexdigest() == KNOWN_DIGEST


KNOWN_DIGEST = "f2fec6a50850a09fad0a93623cafb7be771e9e2657bff2cc7f9e0d8ebcca4e46"  # by the code before the buffer path


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 12).flatmap(lambda size: st.lists(
    st.text(alphabet="LP0123456789é", min_size=size, max_size=size), min_size=65, max_size=120)))
def test_ids_of_one_length_are_keyed_as_any_others_are(ids):
    # One UTF-8 length for all (é is two bytes, so only some draws take the byte-matrix path).
    expected = [loan_key(text) for text in ids]
    assert loan_keys(pa.array(ids, pa.string())).tolist() == expected


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=1, max_size=40), start=st.integers(0, 5),
       taken=st.booleans())
def test_text_with_nulls_hashes_from_its_buffers_exactly_as_filled(texts, start, taken):
    array = pa.array(texts, pa.string())
    if taken:  # through a kernel, as the record's columns come
        array = pa.array(sorted(set(t for t in texts if t is not None)) or [""], pa.string()).take(
            pa.array([None if t is None else sorted(set(x for x in texts if x is not None)).index(t) for t in texts],
                     pa.int32()))
    part = array.slice(min(start, len(array) - 1))
    assert _direct(part) == _general(part)


def test_text_whose_null_slots_hold_bytes_is_filled_before_it_is_hashed():
    # A null over bytes (Arrow allows it): the slot's bytes must not be hashed.
    values = pa.array(["ab", "cd", "ef"], pa.string())
    nulled = pa.Array.from_buffers(pa.string(), 3, [pa.array([True, False, True]).buffers()[1], *values.buffers()[1:]])
    assert nulled.to_pylist() == ["ab", None, "ef"]
    assert _direct(nulled) == _general(nulled) == _general(pa.array(["ab", None, "ef"], pa.string()))
