"""What scoring gives back, chunk by chunk: the answer's rows, and beside them what only some
answers and the decision record need (explanations, the inputs as the model used them, unrounded
probabilities). Scoring builds these; writing and recording read them — neither imports the other.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from webapp.core import table as tables
from webapp.utils.caching import per_object
from webapp.core.contract import ID_COLUMN
from webapp.core.reasons import Explanations

# The fixed columns every answer opens with, in this order (the contract with every client).
OUTPUT_COLUMNS = (ID_COLUMN, "Loan_Status", "Approval_Probability", "Error")
FIXED_WIDTH = len(OUTPUT_COLUMNS)
# The fields an explained JSON record adds after them (an input column joined to the answer is renamed
# past these too: it never stands in for the applicant's reasons).
JSON_EXPLANATION_FIELDS = ("contributions", "reasons")


class FeatureColumns:
    """The decision inputs as the model takes them, column by column (Categoricals in the training
    spelling, floats with NaN for missing), read like a DataFrame: `len` is the rows, `columns[name]`
    a column, `columns[mask]` or `columns[positions]` some rows. A DataFrame of a few rows costs
    more to build than the model takes to score it, so none is built unless a caller asks
    (`to_frame`, for a scikit-learn pipeline)."""

    __slots__ = ("_columns", "_rows")

    def __init__(self, columns: dict, rows: int):
        self._columns, self._rows = columns, rows

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._columns[key]
        key = np.asarray(key)
        rows = int(key.sum()) if key.dtype == bool else len(key)
        if key.dtype == bool and rows == self._rows:
            return self  # every row: nothing to copy
        return FeatureColumns({name: column[key] for name, column in self._columns.items()}, rows)

    def __contains__(self, name: str) -> bool:
        return name in self._columns

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._columns)

    def items(self):
        return self._columns.items()

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._columns, copy=False)


@dataclass(frozen=True)
class ExplainedRows:
    """What explained answers say of each row of a chunk: its principal reasons (indices into
    REASONS, -1 for none) and, for scored rows, `explanations` (contributions of the valid rows in
    order)."""

    principal: np.ndarray
    explanations: Explanations | None
    valid: np.ndarray


@dataclass(frozen=True)
class ScoredChunk:
    """One chunk of a scored input: `columns` holds the answer's columns in order (the fixed ones,
    then the reason columns when asked for, then joined input columns), and `frame` the same as a
    DataFrame, built on first use (CSV, Excel and Parquet writers): a JSON answer and the record
    read the columns themselves, and for a few rows the frame would cost more than scoring them.
    The rest is for JSON explanations and the decision record."""

    columns: dict                      # column name -> array-like of the answer's rows, in order
    valid: np.ndarray                  # (n,) bool: the row was scored
    probability: np.ndarray            # (n,) float64, unrounded; NaN where the row failed
    features: FeatureColumns | None    # the decision inputs as the model used them, every row
    monitored: dict | None             # monitored attribute -> the values as given (a Series, or FewValues)
    explained: ExplainedRows | None = None  # JSON explanations (None unless asked for)
    principal: np.ndarray | None = None     # (n, MAX_REASONS) stated reasons when explained
    action: np.ndarray | None = None        # (n,) codes into reasons.ACTIONS (0: failed row)
    reason_contribution: np.ndarray | None = None  # (n, MAX_REASONS) each stated reason's log-odds, NaN for none
    first_row: int = 1                 # the input row number of the chunk's first row
    outcomes: np.ndarray | None = None  # labelled files: 1/0/-1 per row (a challenger's evaluation)

    def __len__(self) -> int:
        return len(self.valid)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        columns = {name: pd.Series(values, dtype=object, copy=False) if name in OBJECT_COLUMNS else values
                   for name, values in self.columns.items()}
        return pd.DataFrame(columns, copy=False)

    def objects(self, name: str) -> np.ndarray:
        """One answer column as Python objects, as `frame[name].to_numpy(dtype=object)` gives it."""
        column = self.columns[name]
        if name in OBJECT_COLUMNS and isinstance(column, np.ndarray):
            return column
        return as_objects(column)


# Answer columns whose object arrays a frame keeps as they are: it would otherwise scan every row to
# infer text (a million error cells, nearly all empty).
OBJECT_COLUMNS = frozenset({"Error"})


def as_objects(column) -> np.ndarray:
    """`pd.DataFrame({name: column})[name].to_numpy(dtype=object)`, without the frame for the
    answer's own column types (floats, Categoricals, Arrow text, a few strings); anything else (a
    joined input column of dates, say) goes through a Series, which infers types as the frame did."""
    if isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype):
        column = column.array  # a Series converts its Categorical through a take on the categories
    if isinstance(column, pd.Categorical):
        return _category_objects(column.categories)[column.codes]  # code -1 (missing) takes the NaN
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiub":
        return column.astype(object)
    if isinstance(column, tables.FewValues):
        return column.to_numpy(dtype=object)  # already the cells' Python objects
    if isinstance(column, pd.Series) or (isinstance(column, pd.api.extensions.ExtensionArray)
                                         and not isinstance(column, pd.arrays.NumpyExtensionArray)):
        return column.to_numpy(dtype=object)  # kept as they are by a frame
    values = np.asarray(column)
    if values.dtype == object and len(values) <= tables.SMALL_ROWS and all(type(v) is str for v in values):
        return values  # a frame would make them Arrow text, and give the same strings back
    return pd.Series(column, copy=False).to_numpy(dtype=object)


FEW_CATEGORIES = 64  # up to this many, a column's categories as objects are kept (per categories object)


@per_object(at_most=FEW_CATEGORIES)
def _category_objects(categories: pd.Index) -> np.ndarray:
    """The categories as objects, then NaN for code -1. Answer columns share their dtype's few
    categories (a status's N and Y), which are made once; many (an input's IDs) are never kept."""
    table = np.empty(len(categories) + 1, dtype=object)
    table[:-1] = categories.to_numpy(dtype=object)
    table[-1] = np.nan
    table.flags.writeable = False  # shared: a take copies out of it
    return table


def frame_of(chunk) -> pd.DataFrame:
    """Writers take scored chunks or plain result frames alike."""
    return chunk.frame if isinstance(chunk, ScoredChunk) else chunk


def explained_of(chunk) -> ExplainedRows | None:
    return chunk.explained if isinstance(chunk, ScoredChunk) else None


def without_empty_category(values: pd.Categorical) -> pd.Categorical:
    """What `remove_categories([""])` gives (empty cells become missing), from the codes directly:
    the accessor's checks cost about 100 us a column, more than a few rows' writing. CSV answers
    write empty statuses and reasons as empty cells, and the record keeps empty inputs as nulls."""
    categories = values.categories
    if "" not in categories:
        return values
    empty = categories.get_loc("")
    codes = np.asarray(values.codes)
    codes = np.where(codes == empty, -1, codes - (codes > empty))
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories.delete(empty), values.ordered),
                                     validate=False)
