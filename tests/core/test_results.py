"""Scored chunks: the answer's columns read without building a frame give what the frame gives."""
import datetime

import numpy as np
import pandas as pd
import pytest

from webapp.core.results import as_objects

COLUMNS = {
    "status codes": pd.Categorical.from_codes([0, -1, 2], dtype=pd.CategoricalDtype(["", "N", "Y"])),
    "text with a gap": pd.Series(["a", None], dtype=object).array,
    "text": pd.Series(["a", "b"], dtype=object).array,
    "floats": np.array([1.5, np.nan]),
    "errors": pd.Series(["", "x"], dtype=object),
    "object text with a gap": np.array(["a", None], dtype=object),
    "dates as objects": np.array([datetime.datetime(2020, 1, 1)], dtype=object),
    "Arrow text": pd.array(["a", None], dtype="str"),
    "mixed objects": np.array([1, "a"], dtype=object),
    "many strings": np.array(["x"] * 100, dtype=object),
    "a Series of categories read from CSV": pd.Series(pd.Categorical(["b", None], categories=pd.Index(["a", "b"],
                                                                                               dtype="str"))),
    "a Series of floats": pd.Series([1.0, None]),
}


def same(a, b) -> bool:
    return type(a) is type(b) and (a is b or a == b or (a != a and b != b))


@pytest.mark.parametrize("name", COLUMNS)
def test_a_column_as_objects_is_what_the_frame_gives(name):
    column = COLUMNS[name]
    from_frame = pd.DataFrame({"c": column}, copy=False)["c"].to_numpy(dtype=object)
    objects = as_objects(column)
    assert len(objects) == len(from_frame)
    assert all(same(a, b) for a, b in zip(objects, from_frame))


def test_few_values_are_their_own_python_objects():
    from webapp.core.table import FewValues

    cells = np.array(["Male", None, 3], dtype=object)
    assert as_objects(FewValues(cells)) is cells
