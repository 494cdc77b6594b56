"""A table whose header is known and whose rows are read on demand: what every reader returns."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# What a column holds, as far as reading is concerned; the CSV reader turns it into dtype hints.
TEXT, CATEGORY, NUMBER = "text", "category", "number"
SUPPORTED = ("CSV (UTF-8, UTF-16 or Windows-1252 text), a spreadsheet (Excel .xlsx, .xlsm, .xlsb or .xls; "
             "OpenDocument .ods), Parquet, or JSON records")


# Up to this many rows, a chunk is read, validated and recorded as Python values: for a few records
# pandas' and numpy's cost per call is most of the work. Tests hold both paths to the same answers.
SMALL_ROWS = 64


@dataclass
class Table:
    """A table whose header is known and whose rows are read on demand, chunk by chunk."""

    format: str
    columns: list[str]
    read_chunks: Callable[[dict[int, str]], Iterator[pd.DataFrame]]
    details: dict = field(default_factory=dict)

    def chunks(self, kinds: dict[int, str] | None = None) -> Iterator[pd.DataFrame]:
        """Frames whose columns are header positions; `kinds` maps positions to TEXT/CATEGORY/NUMBER."""
        return self.read_chunks(kinds or {})


def reader_fault(what: str, exc: Exception) -> str:
    """A library's failure to read `what`, by the exception's kind, never its text: calamine quotes
    the cell it stumbled on, Arrow the value it could not convert."""
    return (f"The {what} could not be read ({type(exc).__name__}): it is damaged, or holds something "
            "this reader does not understand. Save it again, or as CSV.")


def first_line(exc: Exception) -> str:
    """An exception's message, short enough to show."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


class FewValues:
    """A few cells of one column as Python objects, read as validation's small path reads a Series
    (`dtype`, `len`, `to_numpy`, `iloc`, `index`)."""

    __slots__ = ("values",)
    dtype = np.dtype(object)

    def __init__(self, values: np.ndarray):
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def to_numpy(self, dtype=None) -> np.ndarray:
        return self.values

    @property
    def iloc(self) -> np.ndarray:
        return self.values

    @property
    def index(self) -> pd.RangeIndex:
        return pd.RangeIndex(len(self.values))


class FewRows:
    """A chunk of up to SMALL_ROWS rows of Python objects (JSON records), read as scoring reads a
    DataFrame chunk (`len`, `chunk[position]`, `position in chunk`), holding what
    `pd.DataFrame(rows, columns=range(width), dtype=object)` would: building that frame, and looking
    its columns up, cost more than checking and scoring a record."""

    __slots__ = ("_columns", "_rows")

    def __init__(self, rows: list[list], width: int):
        block = np.empty((len(rows), width), dtype=object)
        for number, row in enumerate(rows):
            block[number, :] = row
        self._columns = {position: FewValues(block[:, position]) for position in range(width)}
        self._rows = len(rows)

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, position: int) -> FewValues:
        return self._columns[position]

    def __contains__(self, position) -> bool:
        return position in self._columns

    @property
    def columns(self) -> list[int]:
        return list(self._columns)

    @property
    def index(self) -> pd.RangeIndex:
        return pd.RangeIndex(self._rows)
