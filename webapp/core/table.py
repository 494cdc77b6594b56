"""A table whose header is known and whose rows are read on demand: what every reader returns."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd

# What a column holds, as far as reading is concerned; the CSV reader turns it into dtype hints.
TEXT, CATEGORY, NUMBER = "text", "category", "number"
SUPPORTED = ("CSV (UTF-8, UTF-16 or Windows-1252 text), a spreadsheet (Excel .xlsx, .xlsm, .xlsb or .xls; "
             "OpenDocument .ods), Parquet, or JSON records")


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


def first_line(exc: Exception) -> str:
    """An exception's message, short enough to show."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
