"""Match an input's header to the contract and check every row against it, column by column.

Checks are vectorised: a categorical column is factorised first, so Python looks at each distinct
value once, and numbers are parsed by pandas. Only rows that fail get a message, built per row.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from webapp.core.contract import (
    ID_COLUMN,
    MISSING_TOKENS,
    PROTECTED_ATTRIBUTES,
    REQUIRED_COLUMNS,
    TARGET_COLUMN,
    category_key,
    cell_text,
    columns_by_key,
    normalise_name,
    outcome_label,
)
from webapp.core.errors import DuplicateColumns, MissingColumns
from webapp.core.limits import Limits
from webapp.core import table as tables
from webapp.core.reading import CATEGORY, NUMBER, TEXT
from webapp.utils.caching import per_object
from webapp.core.table import FewRows
from webapp.core.results import FeatureColumns
from webapp.stats.fairness import NOT_RECOGNISED

SHOWN_VALUE_LENGTH = 40  # error messages show at most this much of the offending value
# Up to this many rows, a column of Python objects (JSON records) is checked value by value in Python:
# each pandas call costs tens of microseconds whatever the size, which was most of a one-record
# request. The rules and messages are the same functions either way; only how the values are
# gathered differs (`tests/core/test_small_inputs.py` holds the two paths equal).


@dataclass(frozen=True)
class ColumnPlan:
    """Where each contract column sits in the input, and what else the input holds."""

    positions: dict[str, int]  # required columns, and the optional ones the input has
    extra_columns: dict[int, str]
    outcome: int | None = None  # where a known outcome (Loan_Status) sits: the file is labelled

    def kinds(self, contract: "Contract", include_extras: bool) -> dict[int, str]:
        kinds = {position: contract.reading_kind(name) for name, position in self.positions.items()}
        if include_extras:
            kinds.update(dict.fromkeys(self.extra_columns, TEXT))
        if self.outcome is not None:
            kinds[self.outcome] = TEXT
        return kinds


def match_columns(columns: list[str], required: tuple[str, ...] = REQUIRED_COLUMNS,
                  optional: tuple[str, ...] = PROTECTED_ATTRIBUTES) -> ColumnPlan:
    """Find the contract's columns whatever their case, spacing, separators or order. `required`
    must all be there; `optional` (monitored-only attributes) are used when present. A header seen
    before gets the same plan (shared: nothing changes a plan): matching it again cost a
    single-record request 0.1 ms."""
    if all(type(name) is str for name in columns):  # 1, 1.0 and True are equal keys, but differ as headers
        return _matched(tuple(columns), tuple(required), tuple(optional))
    return _match_columns(columns, required, optional)


@functools.lru_cache(maxsize=256)
def _matched(columns: tuple, required: tuple[str, ...], optional: tuple[str, ...]) -> ColumnPlan:
    return _match_columns(list(columns), required, optional)  # a refused header raises, and is not kept


# An amount as people write one in a spreadsheet: a currency sign, thousands separated by commas.
_FORMATTED_AMOUNT = re.compile(r"[-+]?[$£€¥]?\s*\d{1,3}(?:,\d{3})+(?:\.\d*)?|[-+]?[$£€¥]\s*\d+(?:\.\d*)?")
DATA_ROW_NUMBERS = 2  # an application has several amounts (incomes, amount, term); a header, a stray year at most


def _is_number_cell(name) -> bool:
    """A header cell that is a number, as validation reads one or as a person writes an amount
    (`5,849`, `$1,508.00`): column names are words, an application's cells are amounts."""
    value, unparsed = _read_number(name)
    return (not unparsed and math.isfinite(value)) or _FORMATTED_AMOUNT.fullmatch(str(name).strip()) is not None


def _data_cells(columns: list, names_recognised: bool) -> int:
    """How many of the first row's cells are numbers, when that makes it an application rather than
    a header (else 0): two numbers or more, or one where no cell names a column of the contract. A
    header with one number among its names (`2024`) is still a header, and its names, misspelt ones
    included, are shown."""
    numbers = sum(_is_number_cell(c) for c in columns)
    enough = DATA_ROW_NUMBERS if names_recognised else 1
    return numbers if numbers >= min(enough, len(columns)) else 0


def _match_columns(columns: list, required: tuple[str, ...], optional: tuple[str, ...]) -> ColumnPlan:
    wanted = {key: name for key, name in columns_by_key().items() if name in required or name in optional}
    positions: dict[str, list[int]] = {}
    extras = {}
    for position, name in enumerate(columns):
        canonical = wanted.get(normalise_name(name))
        if canonical is None:
            extras[position] = str(name)
        else:
            positions.setdefault(canonical, []).append(position)
    duplicated = {name: [columns[p] for p in found] for name, found in positions.items() if len(found) > 1}
    if duplicated:
        described = "; ".join(f"{name} ({', '.join(repr(c) for c in found)})" for name, found in duplicated.items())
        raise DuplicateColumns(f"Columns appear more than once: {described}. Keep one of each.",
                               duplicate_columns=sorted(duplicated))
    missing = [name for name in required if name not in positions]
    if missing:
        data_cells = _data_cells(columns, names_recognised=bool(positions))
        found = [str(c) for c in columns] if not data_cells else \
            [str(columns[p]) for p in sorted(p for places in positions.values() for p in places)]
        raise MissingColumns(missing=missing, found=found, expected=list(required), optional=list(optional),
                             data_cells=data_cells)
    outcome = next((p for p, name in extras.items() if normalise_name(name) == normalise_name(TARGET_COLUMN)), None)
    return ColumnPlan({name: found[0] for name, found in positions.items()}, extras, outcome)


@dataclass(frozen=True)
class Contract:
    """The input contract as stated by a model card's `features`: which columns decide (required,
    validated, scored) and which are only monitored (optional, never failing a row)."""

    features: dict[str, dict]
    allowed: dict[str, dict[str, str]] = field(default_factory=dict)  # feature -> key -> training spelling

    @classmethod
    def from_card(cls, card: dict) -> "Contract":
        features = {f["name"]: f for f in card["features"]}
        allowed = {name: {category_key(v): v for v in f["allowed"]}
                   for name, f in features.items() if f["kind"] == "category"}
        return cls(features, allowed)

    @property
    def decision_features(self) -> tuple[str, ...]:
        # Cards written before the fair-lending change have no `decides`: every feature decided.
        return tuple(name for name, f in self.features.items() if f.get("decides", True))

    @property
    def monitored_only(self) -> tuple[str, ...]:
        return tuple(name for name, f in self.features.items() if not f.get("decides", True))

    @property
    def monitored(self) -> tuple[str, ...]:
        return tuple(name for name, f in self.features.items() if f.get("monitored", False))

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (ID_COLUMN, *self.decision_features)

    def reading_kind(self, name: str) -> str:
        if name == ID_COLUMN:
            return TEXT
        return CATEGORY if self.features[name]["kind"] == "category" else NUMBER


@dataclass
class CheckedChunk:
    ids: np.ndarray | pd.api.extensions.ExtensionArray  # Loan_ID as text
    features: FeatureColumns     # the decision features: categories in training spelling, numbers as float, NaN if empty
    errors: np.ndarray           # object: "" when the row is valid, else the message
    reasons: list[str]           # one short reason per failed check, for the summary
    monitored: dict[str, pd.Categorical] = field(default_factory=dict)  # attribute -> groups, for parity
    outcomes: np.ndarray | None = None  # labelled files: 1 approved, 0 declined, -1 blank or not recognised
    arrays: dict = field(default_factory=dict)  # the decision features as arrays (floats, Categoricals)
    given: dict = field(default_factory=dict)   # monitored attribute -> its column as given (the record keeps it)

    @property
    def valid(self) -> np.ndarray:
        return self.errors == ""


def check_chunk(chunk: pd.DataFrame | FewRows, plan: ColumnPlan, contract: Contract, limits: Limits) -> CheckedChunk:
    n = len(chunk)
    messages: list[tuple[np.ndarray, np.ndarray, str]] = []  # (row mask, per-row text, reason)
    ids, empty, too_long = _check_ids(chunk[plan.positions[ID_COLUMN]], limits.max_cell_length)
    if empty.any():
        messages.append((empty, np.full(n, f"{ID_COLUMN}: must not be empty", dtype=object), f"{ID_COLUMN}: empty"))
    if too_long.any():
        messages.append((too_long, np.full(n, f"{ID_COLUMN}: longer than {limits.max_cell_length} characters",
                                           dtype=object), f"{ID_COLUMN}: too long"))
        ids = _cut_ids(ids, too_long)
    features = {}
    for name in contract.decision_features:
        spec = contract.features[name]
        column = chunk[plan.positions[name]]
        if spec["kind"] == "category":
            features[name], found = _check_category(column, name, contract.allowed[name],
                                                    echo=not spec.get("monitored", False))
        else:
            features[name], found = _check_number(column, name, spec)
        messages.extend(found)

    errors = np.full(n, "", dtype=object)
    reasons: list[str] = []
    for mask, texts, reason in messages:
        rows = np.flatnonzero(mask)
        reasons.extend([reason] * len(rows))
        for row in rows:  # only failed rows: usually few
            errors[row] = texts[row] if not errors[row] else f"{errors[row]}; {texts[row]}"
    # From the arrays, not the frame: a DataFrame lookup per column costs more than a 1-row request's scoring.
    monitored = {name: (features[name] if name in features else
                        _monitored_category(chunk[plan.positions[name]], contract.allowed[name]))
                 for name in contract.monitored if name in plan.positions}
    outcomes = None if plan.outcome is None else _outcomes(chunk[plan.outcome])
    # As given, and as they are (often Arrow-backed): the record converts them without a Python loop.
    given = {name: chunk[plan.positions[name]] for name in contract.monitored
             if name in plan.positions and plan.positions[name] in chunk}
    return CheckedChunk(ids=ids, features=FeatureColumns(features, n), errors=errors, reasons=reasons, monitored=monitored,
                        outcomes=outcomes, arrays=features, given=given)


def _small(column: pd.Series) -> bool:
    return len(column) <= tables.SMALL_ROWS and column.dtype == object


def _factorized(column: pd.Series) -> tuple[np.ndarray, list]:
    """Each cell's code (-1 where missing) and the distinct values in order of appearance. A JSON
    `true` is the text "True", never the number 1 (which it equals): `[1, true]` is two values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), list(column.cat.categories)
    values = column.to_numpy(dtype=object)
    if _small(column):
        try:
            return _factorize_small(values)
        except TypeError:  # an unhashable cell: pandas decides
            pass
    booleans = _boolean_cells(values)
    if booleans is not None:
        values = values.copy()
        values[booleans] = [str(bool(value)) for value in values[booleans]]
    return pd.factorize(values, use_na_sentinel=True)


def _factorize_small(values: np.ndarray) -> tuple[np.ndarray, list]:
    """What `pd.factorize(values, use_na_sentinel=True)` gives, for a few Python values: missing
    values (None, NaN, pd.NA, NaT) take -1, and values that compare equal share a code."""
    positions: dict = {}
    # Text is never missing: only other cells ask pandas (2 us a call, most of a few cells' work).
    # A boolean is its text ("True"), never the number it equals.
    codes = [positions.setdefault(value, len(positions)) if type(value) is str else
             positions.setdefault(str(bool(value)), len(positions)) if type(value) in _BOOLEANS else
             -1 if pd.isna(value) else positions.setdefault(value, len(positions))
             for value in values]
    return np.array(codes, dtype=np.intp), list(positions)


_BOOLEANS = (bool, np.bool_)


def _check_ids(column, max_length: int) -> tuple[np.ndarray | pd.api.extensions.ExtensionArray, np.ndarray, np.ndarray]:
    """IDs as text (an array), and where they are empty or too long."""
    if _small(column):
        texts = [_text(value) for value in column.to_numpy(dtype=object)]
        ids = np.empty(len(texts), dtype=object)
        ids[:] = texts
        return (ids, np.array([not text.strip() for text in texts], dtype=bool),
                np.array([len(text) > max_length for text in texts], dtype=bool))
    ids = _as_text(column)
    return ids.array, (ids.str.strip() == "").to_numpy(), (ids.str.len() > max_length).to_numpy()


def _outcomes(column: pd.Series) -> np.ndarray:
    """Known outcomes as 1/0/-1, decided once per distinct value."""
    codes, uniques = _factorized(column)
    return np.array([outcome_label(u) for u in uniques] + [-1], dtype=np.int8)[codes]


def _monitored_category(column: pd.Series, allowed: dict[str, str]) -> pd.Categorical:
    """A monitored-only column as groups for the parity report: the training spellings, missing
    (NaN), or NOT_RECOGNISED. It never fails a row: these columns do not decide anything."""
    codes, uniques = _factorized(column)
    dtype, position = _groups_plan(allowed)
    keys = [category_key(u) for u in uniques]
    table = [-1 if key is None else position[allowed.get(key, NOT_RECOGNISED)] for key in keys]
    return pd.Categorical.from_codes(np.array(table + [-1], dtype=np.int16)[codes], dtype=dtype, validate=False)


@per_object
def _groups_plan(allowed: dict[str, str]) -> tuple[pd.CategoricalDtype, dict[str, int]]:
    """A monitored attribute's groups' dtype (the training spellings, then NOT_RECOGNISED) and codes."""
    categories = [*sorted(allowed.values()), NOT_RECOGNISED]
    return _category_dtype(tuple(categories)), {c: i for i, c in enumerate(categories)}


def _check_category(column: pd.Series, name: str, allowed: dict[str, str], echo: bool = True):
    """A pandas Categorical in the training spelling (NaN where missing or wrong), and the failures.
    `echo`: a failure quotes the value (cut short); never a monitored attribute's, which is personal
    data (the fair-lending groups: education, employment, area, family).

    Handing the pipeline a Categorical spares its encoder a second pass over the strings."""
    codes, uniques = _factorized(column)
    dtype, position, choices = _allowed_plan(allowed)
    to_category, bad, texts = [], [], []
    for value in uniques:
        key = category_key(value)
        canonical = allowed.get(key) if key is not None else None
        to_category.append(position[canonical] if canonical is not None else -1)
        bad.append(key is not None and canonical is None)
        shown = f"{_show(value)} is " if echo else ""
        texts.append(f"{name}: {shown}not one of {choices}" if bad[-1] else "")
    category_codes = np.array(to_category + [-1], dtype=np.int16)[codes]  # code -1 (missing) takes the last
    values = pd.Categorical.from_codes(category_codes, dtype=dtype, validate=False)
    bad_rows = np.array(bad + [False])[codes]
    found = [(bad_rows, np.array(texts + [""], dtype=object)[codes], f"{name}: not an allowed value")] if bad_rows.any() else []
    return values, found


@per_object  # a contract's allowed values are made once per model: its plan is made once too
def _allowed_plan(allowed: dict[str, str]) -> tuple[pd.CategoricalDtype, dict[str, int], str]:
    """A category feature's dtype, each training spelling's code, and the choices as an error names them."""
    dtype = _category_dtype(tuple(sorted(allowed.values())))
    categories = list(dtype.categories)
    return dtype, {c: i for i, c in enumerate(categories)}, ", ".join(categories)


@functools.lru_cache(maxsize=64)
def _category_dtype(categories: tuple[str, ...]) -> pd.CategoricalDtype:
    # Categories as Python strings, not pandas' Arrow-backed `str`: every tally, the model and the
    # record list a chunk's categories, and iterating an Arrow index costs microseconds per value.
    return pd.CategoricalDtype(pd.Index(list(categories), dtype=object))


@dataclass(frozen=True)
class NumberRule:
    """A rule every value of a number column must keep, in its two forms side by side: `breaks`
    over a column (numpy), `broken_by_any` over a few values as a Python list (a few rows' path,
    spared a dozen numpy calls). Missing values (NaN) break none. `tests/core/test_validation.py`
    holds the two forms equal."""

    message: Callable[[dict], str]  # what a row's error says, from the column's spec
    reason: str  # the summary's short form
    applies: Callable[[dict], bool]
    breaks: Callable[[np.ndarray, dict], np.ndarray]
    broken_by_any: Callable[[list, dict], bool]


NUMBER_RULES = (
    NumberRule(lambda spec: "not a finite number", "not finite", lambda spec: True,
               lambda values, spec: np.isinf(values),
               lambda values, spec: any(v in (math.inf, -math.inf) for v in values)),
    NumberRule(lambda spec: "must not be negative", "negative", lambda spec: True,
               lambda values, spec: values < 0, lambda values, spec: any(v < 0 for v in values)),
    NumberRule(lambda spec: "must be 0 or 1", "not 0 or 1", lambda spec: spec["kind"] == "flag",
               lambda values, spec: ~np.isnan(values) & (values != 0) & (values != 1),
               lambda values, spec: any(v == v and v != 0 and v != 1 for v in values)),
    NumberRule(lambda spec: f"must not be larger than {spec['maximum']:,.0f}", "too large",
               lambda spec: spec["kind"] != "flag" and spec.get("maximum") is not None,
               lambda values, spec: np.isfinite(values) & (values > spec["maximum"]),
               lambda values, spec: any(v != math.inf and v > spec["maximum"] for v in values)),
)


@per_object  # a contract's specs are made once per model
def number_rules(spec: dict) -> tuple[NumberRule, ...]:
    return tuple(rule for rule in NUMBER_RULES if rule.applies(spec))


def _check_number(column: pd.Series, name: str, spec: dict):
    n = len(column)
    if column.dtype != object and pd.api.types.is_numeric_dtype(column.dtype) \
            and not pd.api.types.is_bool_dtype(column.dtype):  # (a few JSON cells are objects: no dtype tests)
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        unparsed = np.zeros(n, dtype=bool)
    else:
        values, unparsed = _parse_numbers(column)
    rules = number_rules(spec)
    if n <= tables.SMALL_ROWS and not unparsed.any():
        few = values.tolist()
        if not any(rule.broken_by_any(few, spec) for rule in rules):
            return values.copy(), []  # no rule finds anything: spared their numpy calls
    # An amount's message names the column and the rule, never the value: incomes and loan amounts
    # are personal data, and an error's text travels (support tickets, e-mails, the record's error).
    found = []
    if unparsed.any():
        found.append((unparsed, np.full(n, f"{name}: not a number", dtype=object), f"{name}: not a number"))
    with np.errstate(invalid="ignore"):
        for rule in rules:
            mask = rule.breaks(values, spec)
            if mask.any():
                found.append((mask, np.full(n, f"{name}: {rule.message(spec)}", dtype=object),
                              f"{name}: {rule.reason}"))
    # Values that break a rule must not reach the model (inf fails the whole batch otherwise).
    broken = unparsed | np.isinf(values)
    values = np.where(broken, np.nan, values)
    return values, found


def _boolean_cells(values: np.ndarray) -> np.ndarray | None:
    """Where an object column holds booleans (JSON's true and false, which pandas takes for 1 and
    0), or None when it holds none: decided in C for columns of numbers or text alone."""
    if pd.api.types.infer_dtype(values, skipna=True) not in ("boolean", "mixed", "mixed-integer"):
        return None
    found = np.fromiter((type(value) in _BOOLEANS for value in values), dtype=bool, count=len(values))
    return found if found.any() else None


def _parse_numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats, NaN where missing; and a mask of cells that hold something that is not a number (a
    boolean is not one, though pandas reads true as 1)."""
    if column.dtype.kind == "b":  # a CSV column of True/False, typed so by the reader (numpy's or pandas' booleans)
        return np.full(len(column), np.nan), column.notna().to_numpy()
    if _small(column):
        plain = _plain_numbers(column.to_numpy(dtype=object))  # never a boolean (a single record's path)
        if plain is not None:
            return plain, np.zeros(len(column), dtype=bool)
    parsed, unparsed = _parse_number_cells(column)
    booleans = _boolean_cells(column.to_numpy(dtype=object)) if column.dtype == object else None
    if booleans is not None:
        parsed, unparsed = np.where(booleans, np.nan, parsed), unparsed | booleans
    return parsed, unparsed


def _parse_number_cells(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    small = _small(column)
    try:
        if small:  # the same conversion, spared the Series around it
            parsed = np.asarray(pd.to_numeric(column.to_numpy(dtype=object), errors="coerce"), dtype=np.float64)
        else:
            parsed = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    except OverflowError:  # a JSON integer of hundreds of digits: decided per value below, as text
        parsed = np.full(len(column), np.nan)
    unparsed = np.zeros(len(column), dtype=bool)
    given = (np.array([not pd.isna(value) for value in column.to_numpy(dtype=object)], dtype=bool) if small
             else column.notna().to_numpy())
    rows = np.flatnonzero(np.isnan(parsed) & given)
    if len(rows):
        # Cells pandas did not read ("NA", " 12 ", "1,5", ...) are few distinct values, however many
        # rows hold them: decide per value, as for categories.
        parsed = parsed.copy()  # pandas may hand back a read-only view
        codes, uniques = pd.factorize(column.to_numpy(dtype=object)[rows])
        decided = [_read_number(u) for u in uniques]
        parsed[rows] = np.array([d[0] for d in decided])[codes]
        unparsed[rows] = np.array([d[1] for d in decided])[codes]
    return parsed, unparsed


EXACT_INTEGERS = 2 ** 53  # every integer below this in magnitude is exactly a float64


def _plain_numbers(values: np.ndarray) -> np.ndarray | None:
    """What `pd.to_numeric` makes of JSON numbers, integers written as text ("2066", as data
    converted from a CSV sends them) and nulls (floats; NaN for None), converted in Python; None
    when any value is anything else (other text, a boolean, a huge integer): pandas decides."""
    out = []
    for value in values:
        kind = type(value)
        if kind is float or (kind is int and -EXACT_INTEGERS < value < EXACT_INTEGERS):
            out.append(float(value))
        elif value is None:
            out.append(np.nan)
        elif kind is str and _INTEGER_TEXT.fullmatch(value) and not (value[0] == "-" and int(value) == 0):
            out.append(float(int(value)))  # ("-0" is 0.0 or -0.0 by what else the column holds: pandas decides)
        else:
            return None
    return np.array(out, dtype=np.float64)


_INTEGER_TEXT = re.compile(r"-?[0-9]{1,15}")  # ASCII digits only, exactly a float64 either way


def _read_number(value) -> tuple[float, bool]:
    """(value, False) for a number or a missing token (NaN); (NaN, True) for anything else."""
    if isinstance(value, bool):
        return np.nan, True
    text = str(value).strip()
    if text.casefold() in MISSING_TOKENS:
        return np.nan, False
    try:
        return float(text), False
    except ValueError:
        return np.nan, True


def _as_text(column: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(column.dtype) and not column.isna().any():
        return column
    return column.map(_text)


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _cut_ids(ids, too_long: np.ndarray) -> np.ndarray:
    """An overlong ID is echoed in the answer as its first characters only, like any offending value."""
    ids = np.array(ids, dtype=object)  # a copy: the reader's column stays as it was
    ids[too_long] = [text[:SHOWN_VALUE_LENGTH] + "…" for text in ids[too_long]]
    return ids


def _show(value) -> str:
    """The offending value, quoted and cut short: errors never echo more applicant data than that."""
    text = cell_text(value)  # numbers parsed as floats show as typed: `7`, not `7.0`
    if len(text) > SHOWN_VALUE_LENGTH:
        text = text[:SHOWN_VALUE_LENGTH] + "…"
    return repr(text)
