"""The canonical serialisation: exact, chunking-independent, nulls distinct from empties."""
import hashlib
import struct
from datetime import datetime

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import pytest

from tests.records.conftest import decisions
from webapp.records.archive import FewDecisions, normalise
from webapp.records.digest import VERSIONS, DataDigest, leb128, leb128_py, loan_key, loan_keys


def digest_of(*tables, version="v2"):
    digest = DataDigest(version)
    for table in tables:
        digest.update(normalise(table))
    return digest.hexdigest()


@pytest.mark.parametrize("version", VERSIONS)
def test_the_digest_does_not_depend_on_how_the_rows_were_chunked(version):
    whole = decisions([f"L{i}" for i in range(10)])
    assert digest_of(whole, version=version) == digest_of(whole.slice(0, 3), whole.slice(3, 6), whole.slice(9),
                                                          version=version)


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(1, 199), max_size=6, unique=True), as_lists=st.lists(st.booleans(), max_size=7))
def test_any_chunking_of_a_batch_through_either_path_gives_its_digest(cuts, as_lists):
    # Version 2 packs `valid` bits across chunks: a chunk may end mid-byte, in numpy or Python values.
    whole = normalise(decisions([f"L{i}" * (i % 3) for i in range(200)],
                                probabilities=[None if i % 7 == 0 else i / 200 for i in range(200)]))
    bounds = [0, *sorted(cuts), 200]
    digest = DataDigest()
    for number, (begin, end) in enumerate(zip(bounds, bounds[1:])):
        part = whole.slice(begin, end - begin)
        if number < len(as_lists) and as_lists[number]:
            part = FewDecisions(part.schema, part.to_pydict())  # as a few rows' lists (any size)
        digest.update(part)
    assert digest.hexdigest() == digest_of(whole)


def test_version_2_writes_lengths_as_leb128():
    values = [0, 1, 127, 128, 300, 16383, 16384, 2**35 + 5]
    expected = bytes([0, 1, 127, 0x80, 1, 0xAC, 2, 0xFF, 0x7F, 0x80, 0x80, 1]) + leb128_py([2**35 + 5])
    assert leb128(np.array(values, dtype=np.int64)) == leb128_py(values) == expected
    assert leb128(np.array([3, 0, 127], dtype=np.int32)) == bytes([3, 0, 127])


def test_the_versions_differ_and_each_is_told_apart():
    table = decisions(["A", "B"])
    assert digest_of(table, version="v1") != digest_of(table, version="v2")
    with pytest.raises(ValueError, match="no digest version"):
        DataDigest("v3")


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
@pytest.mark.parametrize("version", VERSIONS)
def test_the_python_and_numpy_serialisations_agree(version, rows):
    ids, probabilities, codes, contributions, gender = zip(*rows)
    table = pa.table({"row": pa.array(range(1, len(rows) + 1), pa.int64()), "loan_id": pa.array(ids, pa.string()),
                      "status": pa.array(ids, pa.string()), "probability": pa.array(probabilities, pa.float64()),
                      "error": pa.nulls(len(rows), pa.string()), "reason_codes": pa.array(codes, pa.list_(pa.string())),
                      "reason_contributions": pa.array(contributions, pa.list_(pa.float64())),
                      "input.Gender": pa.array(gender, pa.string()), "input.Empty": pa.nulls(len(rows))})
    table = normalise(table)
    python, vectorised = DataDigest(version), DataDigest(version)
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


def _general(array: pa.Array, version: str) -> str:
    """A column's digest through the general serialisation (`valid` bytes, cast, fill, copy)."""
    general = DataDigest(version)
    general._numbers_without_nulls = lambda name, array: False
    general._text_from_buffers = lambda name, array: False
    general._column("c", array)
    return general.hexdigest()


def _direct(array: pa.Array, version: str) -> str:
    direct = DataDigest(version)
    direct._column("c", array)
    return direct.hexdigest()


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.text(max_size=8), min_size=1, max_size=40), numbers=st.lists(
    st.one_of(st.floats(), st.just(-0.0)), min_size=1, max_size=40), start=st.integers(0, 5))
@pytest.mark.parametrize("version", VERSIONS)
def test_columns_without_nulls_hash_from_their_buffers_exactly_as_serialised(version, texts, numbers, start):
    # Slices too: an array's offset into its buffers must be honoured.
    for array in (pa.array(texts, pa.string()), pa.array(numbers, pa.float64()),
                  pa.array(range(len(numbers)), pa.int64())):
        part = array.slice(min(start, len(array) - 1))
        assert part.null_count == 0
        assert _direct(part, version) == _general(part, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_digest_of_a_known_table_stays_what_each_version_wrote(version):
    # Pinned: archives written before must verify with the code of today, in their own version.
    table = normalise(decisions(["LP001002", "LP001003", ""], probabilities=[0.25, 0.75, 0.5]))
    digest = DataDigest(version)
    digest.update(table)  # three rows: the Python path
    vectorised = DataDigest(version)
    for name in table.column_names:
        vectorised._column(name, table[name].combine_chunks())
    assert digest.hexdigest() == vectorised.hexdigest() == KNOWN_DIGESTS[version]


KNOWN_DIGESTS = {"v1": "f2fec6a50850a09fad0a93623cafb7be771e9e2657bff2cc7f9e0d8ebcca4e46",  # before the buffer path
                 "v2": "51b0ec0a8492273b950865331ee655d7562ee6cfea6e4b7d5836b92fb9e85a74"}


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
@pytest.mark.parametrize("version", VERSIONS)
def test_text_with_nulls_hashes_from_its_buffers_exactly_as_filled(version, texts, start, taken):
    array = pa.array(texts, pa.string())
    if taken:  # through a kernel, as the record's columns come
        array = pa.array(sorted(set(t for t in texts if t is not None)) or [""], pa.string()).take(
            pa.array([None if t is None else sorted(set(x for x in texts if x is not None)).index(t) for t in texts],
                     pa.int32()))
    part = array.slice(min(start, len(array) - 1))
    assert _direct(part, version) == _general(part, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_text_whose_null_slots_hold_bytes_is_filled_before_it_is_hashed(version):
    # A null over bytes (Arrow allows it): the slot's bytes must not be hashed.
    values = pa.array(["ab", "cd", "ef"], pa.string())
    nulled = pa.Array.from_buffers(pa.string(), 3, [pa.array([True, False, True]).buffers()[1], *values.buffers()[1:]])
    assert nulled.to_pylist() == ["ab", None, "ef"]
    assert _direct(nulled, version) == _general(nulled, version) == _general(pa.array(["ab", None, "ef"], pa.string()),
                                                                              version)


def reference_v2(table: pa.Table) -> str:
    """Version 2 as the module's docstring states it, written plainly from Python values."""
    streams: dict[str, bytearray] = {}
    kinds: dict[str, str] = {}

    def kind_of(arrow_type) -> str:
        if pa.types.is_floating(arrow_type):
            return "float64"
        if pa.types.is_integer(arrow_type):
            return "int64"
        return "list" if pa.types.is_list(arrow_type) else "text"

    def column(name, arrow_type, values):
        kind = kinds[name] = kind_of(arrow_type)
        bits = [v is not None for v in values]
        if bits:
            bits += [False] * (-len(bits) % 8)
            streams[f"{name}/valid"] = bytearray(sum(bits[i + j] << j for j in range(8))
                                                 for i in range(0, len(bits), 8))
        if kind in ("float64", "int64"):
            streams[f"{name}/values"] = bytearray(b"".join(
                struct.pack("<d" if kind == "float64" else "<q", 0 if v is None else v) for v in values))
        elif kind == "text":
            encoded = [b"" if v is None else v.encode() for v in values]
            streams[f"{name}/lengths"] = bytearray(leb128_py([len(e) for e in encoded]))
            streams[f"{name}/bytes"] = bytearray(b"".join(encoded))
        else:
            streams[f"{name}/lengths"] = bytearray(leb128_py([0 if v is None else len(v) for v in values]))
            column(f"{name}[]", arrow_type.value_type, [item for v in values if v for item in v])

    for field in table.schema:
        column(field.name, field.type, table[field.name].to_pylist())
    lines = "".join(f"\n{key} {kinds[key.rsplit('/', 1)[0]]} {hashlib.sha256(streams[key]).hexdigest()}"
                    for key in sorted(streams, key=lambda k: tuple(k.split("/"))))
    return hashlib.sha256(("v2" + lines).encode()).hexdigest()


@pytest.mark.parametrize("rows", [1, 3, 8, 9, 150])
def test_version_2_is_what_its_specification_says(rows):
    table = normalise(decisions([f"LP{i:06d}" if i % 4 else "" for i in range(rows)],
                                probabilities=[None if i % 6 == 5 else (i + 1) / (rows + 2) for i in range(rows)]))
    assert digest_of(table) == reference_v2(table)
