"""Reason codes and texts for adverse-action notices: the one place they are written.

Each decision feature has a stable machine `code` and a plain-language `text` a loan officer can read
to the applicant, per *way* the feature can lower a score: its value (categories and the credit
flag), a number above or below the reference applicant (`high` / `low`), or the value missing (the
model then imputes it, and says so). Texts describe the applicant's own application only, never
other applicants' data. The model card, `GET /api/v1/model`, `/docs` and the OpenAPI document list
this table; explanations (`webapp.model.explain`) pick from it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_REASONS = 4  # Regulation B: more than four principal reasons is not helpful (comment 9(b)(2)-1)
REASON_COLUMNS = tuple(f"Reason_{i}" for i in range(1, MAX_REASONS + 1))
REASON_CODES_COLUMN = "Reason_Codes"

# The ways a feature's contribution is described, in the order of the explainer's variant index.
VALUE, LOW, HIGH, MISSING = "value", "low", "high", "missing"
WAYS = (VALUE, LOW, HIGH, MISSING)


@dataclass(frozen=True)
class Reason:
    code: str
    feature: str
    way: str
    text: str


REASONS: tuple[Reason, ...] = (
    Reason("CREDIT_HISTORY", "Credit_History", LOW, "Credit history does not meet guidelines"),
    Reason("CREDIT_HISTORY_LEVEL", "Credit_History", HIGH, "Credit history"),
    Reason("CREDIT_HISTORY_MISSING", "Credit_History", MISSING, "No credit history information was provided"),
    Reason("INCOME_INSUFFICIENT", "ApplicantIncome", LOW, "Applicant income is insufficient for the credit requested"),
    Reason("INCOME_LEVEL", "ApplicantIncome", HIGH, "Applicant income level"),
    Reason("INCOME_MISSING", "ApplicantIncome", MISSING, "Applicant income was not provided"),
    Reason("COAPPLICANT_INCOME_LOW", "CoapplicantIncome", LOW, "Co-applicant income is low or absent"),
    Reason("COAPPLICANT_INCOME_LEVEL", "CoapplicantIncome", HIGH, "Co-applicant income level"),
    Reason("COAPPLICANT_INCOME_MISSING", "CoapplicantIncome", MISSING, "Co-applicant income was not provided"),
    Reason("LOAN_AMOUNT_HIGH", "LoanAmount", HIGH, "Loan amount is high for the stated income"),
    Reason("LOAN_AMOUNT_LOW", "LoanAmount", LOW, "Loan amount requested is low"),
    Reason("LOAN_AMOUNT_MISSING", "LoanAmount", MISSING, "Loan amount was not provided"),
    Reason("LOAN_TERM_LONG", "Loan_Amount_Term", HIGH, "Loan term is long"),
    Reason("LOAN_TERM_SHORT", "Loan_Amount_Term", LOW, "Loan term is short"),
    Reason("LOAN_TERM_MISSING", "Loan_Amount_Term", MISSING, "Loan term was not provided"),
    Reason("EDUCATION", "Education", VALUE, "Education level"),
    Reason("EDUCATION_MISSING", "Education", MISSING, "Education was not provided"),
    Reason("EMPLOYMENT_TYPE", "Self_Employed", VALUE, "Type of employment (self-employed or employed)"),
    Reason("EMPLOYMENT_TYPE_MISSING", "Self_Employed", MISSING, "Type of employment was not provided"),
    Reason("PROPERTY_LOCATION", "Property_Area", VALUE, "Location of the property"),
    Reason("PROPERTY_LOCATION_MISSING", "Property_Area", MISSING, "Location of the property was not provided"),
)

REASONS_BY_CODE = {r.code: r for r in REASONS}


def reason_for(feature: str, way: str) -> Reason:
    """The reason describing `feature` lowering a score in `way`. Numbers and the credit flag have
    low and high; categories have value; every feature has missing."""
    for reason in REASONS:
        if reason.feature == feature and reason.way == way:
            return reason
    raise KeyError(f"no reason for {feature} ({way})")


def reason_table() -> list[dict]:
    """The table as plain dicts, for the model card, the API and the docs."""
    return [{"code": r.code, "feature": r.feature, "way": r.way, "text": r.text} for r in REASONS]


@dataclass(frozen=True)
class Explanations:
    """What a model says of each row it scored: exact contributions to the log-odds of approval,
    relative to `base`, so that base + contributions.sum(axis=1) == logit(probability)."""

    probability: np.ndarray      # (n,)
    contributions: np.ndarray    # (n, F) in the order of `features`
    # rows -> (len(rows), F): index into REASONS of what each feature would be cited as in those rows
    # (computed on demand: only declined rows need it)
    reasons_of: Callable[[np.ndarray], np.ndarray]
    features: tuple[str, ...]
    base: float
    method: str


def principal_reasons(explanations: Explanations, rows: np.ndarray | None = None) -> np.ndarray:
    """(len(rows), MAX_REASONS) indices into REASONS for the given rows (default: all), most
    damaging first, -1 where there is none. Only features that lowered the score are reasons; none
    is left out up to MAX_REASONS."""
    rows = np.arange(len(explanations.contributions)) if rows is None else rows
    contributions = explanations.contributions[rows]
    reasons = explanations.reasons_of(rows)
    order = np.argsort(contributions, axis=1)[:, :MAX_REASONS]
    at = np.arange(len(contributions))[:, None]
    lowered = contributions[at, order] < 0
    principal = np.where(lowered, reasons[at, order], -1).astype(np.int16)
    if principal.shape[1] < MAX_REASONS:  # a model with fewer features than reasons
        principal = np.pad(principal, ((0, 0), (0, MAX_REASONS - principal.shape[1])), constant_values=-1)
    return principal


_TEXTS = pd.CategoricalDtype(["", *(r.text for r in REASONS)])


def reason_columns(principal: np.ndarray) -> dict[str, pd.Categorical]:
    """Reason_1 … Reason_4 (texts) and Reason_Codes (codes joined with `;`) as Categoricals: a
    million rows share a few dozen distinct values, so no string is built per row."""
    columns = {name: pd.Categorical.from_codes(principal[:, k] + 1, dtype=_TEXTS, validate=False)
               for k, name in enumerate(REASON_COLUMNS)}
    width = len(REASONS) + 1
    cited = np.flatnonzero(principal[:, 0] >= 0)  # only rows with a reason need a combination
    keys = np.zeros(len(cited), dtype=np.int64)
    for k in range(MAX_REASONS):
        keys = keys * width + (principal[cited, k] + 1)
    combinations, inverse = np.unique(keys, return_inverse=True)
    labels = ["", *(";".join(REASONS[i].code for i in _decode(key, width) if i >= 0) for key in combinations)]
    codes = np.zeros(len(principal), dtype=np.int32)
    codes[cited] = inverse.reshape(-1) + 1
    columns[REASON_CODES_COLUMN] = pd.Categorical.from_codes(codes, categories=labels, validate=False)
    return columns


def _decode(key: int, width: int) -> list[int]:
    indices = []
    for _ in range(MAX_REASONS):
        key, digit = divmod(int(key), width)
        indices.append(digit - 1)
    return indices[::-1]
