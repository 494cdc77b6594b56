"""Reason codes and texts for adverse-action notices: the one place they are written.

Each decision feature has a stable machine `code` and a plain-language `text` a loan officer can read
to the applicant, per *way* the feature can lower a score: its value (categories and the credit
flag), a number above or below the reference applicant (`high` / `low`), or the value missing (the
model then imputes it, and says so). Texts describe the applicant's own application only, never
other applicants' data. The model card, `GET /api/v1/model`, `/docs` and the OpenAPI document list
this table; explanations (`webapp.model.explain`) pick from it.

The policy for stating reasons (Regulation B, 12 CFR 1002.9) is here too, in `decide_actions`: a stated
reason is *material* (it lowers the log-odds by at least `MATERIAL_MINIMUM`), at most four, most
damaging first, fewer being normal (HMDA comment 1003.4(a)(16)); and missing information is never a
reason for a decline (comment 9(a)(1)-4): an application that would be approved with each missing
feature at the reference is *incomplete* (a notice of incompleteness, 1002.9(c)), not declined.
Each reason maps to a HMDA denial reason (Filing Instructions Guide, codes 1-9).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

MAX_REASONS = 4  # Regulation B: more than four principal reasons is not helpful (comment 9(b)(2)-1)
# Log-odds a stated reason must lower the score by: about one point of probability near the threshold
# (dp = p(1 - p) dz, 0.21 x 0.05 at p = 0.7), and well above the 0.0025-0.01 of the "reasons" that
# filled four slots before, which no applicant could act on.
MATERIAL_MINIMUM = 0.05
REASON_COLUMNS = tuple(f"Reason_{i}" for i in range(1, MAX_REASONS + 1))
REASON_CODES_COLUMN = "Reason_Codes"

# The ways a feature's contribution is described, in the order of the explainer's variant index.
VALUE, LOW, HIGH, MISSING = "value", "low", "high", "missing"
WAYS = (VALUE, LOW, HIGH, MISSING)


# HMDA denial reasons (Filing Instructions Guide, data field "Denial Reason"), by code.
HMDA_DENIAL_REASONS = {
    1: "Debt-to-income ratio",
    2: "Employment history",
    3: "Credit history",
    4: "Collateral",
    5: "Insufficient cash (downpayment, closing costs)",
    6: "Unverifiable information",
    7: "Credit application incomplete",
    8: "Mortgage insurance denied",
    9: "Other",
}


@dataclass(frozen=True)
class Reason:
    code: str
    feature: str
    way: str
    text: str
    hmda_denial_reason: int  # a key of HMDA_DENIAL_REASONS


REASONS: tuple[Reason, ...] = (
    Reason("CREDIT_HISTORY", "Credit_History", LOW, "Credit history does not meet guidelines", 3),
    Reason("CREDIT_HISTORY_LEVEL", "Credit_History", HIGH, "Credit history", 3),
    Reason("CREDIT_HISTORY_MISSING", "Credit_History", MISSING, "No credit history information was provided", 7),
    Reason("INCOME_INSUFFICIENT", "ApplicantIncome", LOW, "Applicant income is insufficient for the credit requested", 1),
    Reason("INCOME_LEVEL", "ApplicantIncome", HIGH, "Applicant income level", 1),
    Reason("INCOME_MISSING", "ApplicantIncome", MISSING, "Applicant income was not provided", 7),
    Reason("COAPPLICANT_INCOME_LOW", "CoapplicantIncome", LOW, "Co-applicant income is low or absent", 1),
    Reason("COAPPLICANT_INCOME_LEVEL", "CoapplicantIncome", HIGH, "Co-applicant income level", 1),
    Reason("COAPPLICANT_INCOME_MISSING", "CoapplicantIncome", MISSING, "Co-applicant income was not provided", 7),
    Reason("LOAN_AMOUNT_HIGH", "LoanAmount", HIGH, "Loan amount is high for the stated income", 1),
    Reason("LOAN_AMOUNT_LOW", "LoanAmount", LOW, "Loan amount requested is low", 9),
    Reason("LOAN_AMOUNT_MISSING", "LoanAmount", MISSING, "Loan amount was not provided", 7),
    Reason("LOAN_TERM_LONG", "Loan_Amount_Term", HIGH, "Loan term is long", 9),
    Reason("LOAN_TERM_SHORT", "Loan_Amount_Term", LOW, "Loan term is short", 9),
    Reason("LOAN_TERM_MISSING", "Loan_Amount_Term", MISSING, "Loan term was not provided", 7),
    Reason("EDUCATION", "Education", VALUE, "Education level", 9),
    Reason("EDUCATION_MISSING", "Education", MISSING, "Education was not provided", 7),
    Reason("EMPLOYMENT_TYPE", "Self_Employed", VALUE, "Type of employment (self-employed or employed)", 2),
    Reason("EMPLOYMENT_TYPE_MISSING", "Self_Employed", MISSING, "Type of employment was not provided", 7),
    Reason("PROPERTY_LOCATION", "Property_Area", VALUE, "Location of the property", 4),
    Reason("PROPERTY_LOCATION_MISSING", "Property_Area", MISSING, "Location of the property was not provided", 7),
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
    return [{"code": r.code, "feature": r.feature, "way": r.way, "text": r.text,
             "hmda_denial_reason": r.hmda_denial_reason} for r in REASONS]


def reason_policy() -> dict:
    """How reasons are chosen, for the model card and `GET /api/v1/model` beside the table."""
    return {"material_minimum": MATERIAL_MINIMUM, "units": "log-odds of approval", "max_reasons": MAX_REASONS,
            "missing_information": "never a reason for a decline; an application that would be approved with "
                                   "each missing feature at the reference is incomplete",
            "hmda_denial_reasons": {str(k): v for k, v in HMDA_DENIAL_REASONS.items()}}


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
    damaging first, -1 where there is none: the features that lowered the log-odds by at least
    MATERIAL_MINIMUM, missing values excluded (never a stated reason for a decline)."""
    rows = np.arange(len(explanations.contributions)) if rows is None else rows
    contributions = explanations.contributions[rows]
    reasons = explanations.reasons_of(rows)
    return _most_damaging(contributions, reasons, ~_IS_MISSING[reasons] & (contributions <= -MATERIAL_MINIMUM))


# Actions, by code: 0 is "no action" (a row that failed validation was not decided).
APPROVE, DECLINE, INCOMPLETE = "approve", "decline", "incomplete"
ACTIONS = ("", APPROVE, DECLINE, INCOMPLETE)
APPROVE_CODE, DECLINE_CODE, INCOMPLETE_CODE = 1, 2, 3
ACTION_COLUMN = "Action"
# REASONS index -> whether it names a missing value; one more entry (False) so that -1 indexes "none".
_IS_MISSING = np.array([r.way == MISSING for r in REASONS] + [False])


class Decided(NamedTuple):
    principal: np.ndarray  # (n, MAX_REASONS) int16 indices into REASONS, -1 = none
    action: np.ndarray     # (n,) int8 codes into ACTIONS


def decide_actions(explanations: Explanations | None, approved: np.ndarray, threshold: float,
                   missing: np.ndarray | None = None, *, reasons_for_approved: bool = False) -> Decided:
    """Each scored row's action and stated reasons; rows are those of `explanations` (the valid rows).

    `approved` (n,) is the model's decision (probability >= threshold); `missing` (n, F) marks the
    decision features that were missing, in `explanations.features` order (default: read from the
    explainer's reasons, which name a missing value as missing). A declined row is `incomplete` when
    it would be approved with each missing feature at the reference (contribution 0): its "reasons"
    are then the missing features that lowered the score, for the notice of incompleteness. Any other
    declined row states its material non-missing factors. Approved rows state none unless
    `reasons_for_approved`. Without explanations (a model with no explainer) there are no reasons."""
    approved = np.asarray(approved, dtype=bool)
    action = np.where(approved, APPROVE_CODE, DECLINE_CODE).astype(np.int8)
    principal = np.full((len(approved), MAX_REASONS), -1, dtype=np.int16)
    if explanations is None:
        return Decided(principal, action)
    rows = np.arange(len(approved)) if reasons_for_approved else np.flatnonzero(~approved)
    contributions = explanations.contributions[rows]
    reasons = explanations.reasons_of(rows)
    absent = _IS_MISSING[reasons] if missing is None else np.asarray(missing, dtype=bool)[rows]
    log_odds = explanations.base + contributions.sum(axis=1)
    completed = log_odds - np.where(absent, contributions, 0.0).sum(axis=1)
    incomplete = ~approved[rows] & absent.any(axis=1) & (completed >= np.log(threshold / (1 - threshold)))
    stated = np.where(incomplete[:, None], absent & (contributions < 0),
                      ~absent & (contributions <= -MATERIAL_MINIMUM))
    principal[rows] = _most_damaging(contributions, reasons, stated)
    action[rows[incomplete]] = INCOMPLETE_CODE
    return Decided(principal, action)


def _most_damaging(contributions: np.ndarray, reasons: np.ndarray, stated: np.ndarray) -> np.ndarray:
    """(n, MAX_REASONS): the reasons where `stated`, most negative contribution first, -1 after."""
    order = np.argsort(np.where(stated, contributions, np.inf), axis=1, kind="stable")[:, :MAX_REASONS]
    at = np.arange(len(contributions))[:, None]
    principal = np.where(stated[at, order], reasons[at, order], -1).astype(np.int16)
    if principal.shape[1] < MAX_REASONS:  # a model with fewer features than reasons
        principal = np.pad(principal, ((0, 0), (0, MAX_REASONS - principal.shape[1])), constant_values=-1)
    return principal


def reason_contributions(explanations: Explanations, principal: np.ndarray) -> np.ndarray:
    """(n, MAX_REASONS): each stated reason's contribution to the log-odds (NaN where none), for the
    decision record; rows are those of `explanations`."""
    column = _feature_columns(explanations.features)[principal]  # -1 (none) indexes the last entry: -1
    picked = np.take_along_axis(explanations.contributions, np.maximum(column, 0).astype(np.intp), axis=1)
    return np.where(column >= 0, picked, np.nan)


@functools.lru_cache(maxsize=8)
def _feature_columns(features: tuple[str, ...]) -> np.ndarray:
    """REASONS index -> the column of its feature in `features` (-1 when absent, and for index -1)."""
    position = {name: i for i, name in enumerate(features)}
    return np.array([position.get(r.feature, -1) for r in REASONS] + [-1], dtype=np.int16)


_ACTIONS = pd.CategoricalDtype(list(ACTIONS))


def action_column(action: np.ndarray) -> pd.Categorical:
    """The `Action` column from action codes (0 for failed rows: an empty cell)."""
    return pd.Categorical.from_codes(np.asarray(action, dtype=np.int8), dtype=_ACTIONS, validate=False)


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
