"""The input contract: which columns a scoring request carries and how their values are read.

This module is the one source of truth for column names and value normalisation. The values each
categorical feature may take are learned from the training data and stored in the model card
(`features`), which validation, the docs page, the template file and the OpenAPI document all read.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

ID_COLUMN = "Loan_ID"
TARGET_COLUMN = "Loan_Status"
POSITIVE_LABEL = "Y"
NEGATIVE_LABEL = "N"

# Cell text that means "no value" in a feature column (compared after normalisation).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "category" (one of the training values), "number" (finite, >= 0) or "flag" (0 or 1)
    description: str
    example: str
    maximum: float | None = None  # numbers only: larger values are impossible, not just rare
    decides: bool = True  # the model scores it; False: accepted and monitored only, never decides
    monitored: bool = False  # approval parity across its values is reported on every file
    why: str = ""  # why it is monitored, for the docs, the upload page and the model card


# Prohibited bases: sex and marital status (ECOA / Regulation B, 12 CFR 1002.4, 1002.6(b)) and, for
# home loans, familial status (Fair Housing Act). The model never sees them.
PROHIBITED_BASIS = ("A prohibited basis for a credit decision (ECOA / Regulation B; familial status under the "
                    "Fair Housing Act): never used to decide, only to check approval parity.")
PROXY_RISK = "Decides, and is monitored: it can stand in for protected groups."

FEATURES: tuple[Feature, ...] = (
    Feature("Gender", "category", "Applicant's gender", "Male", decides=False, monitored=True, why=PROHIBITED_BASIS),
    Feature("Married", "category", "Whether the applicant is married", "Yes", decides=False, monitored=True,
            why=PROHIBITED_BASIS),
    Feature("Dependents", "category", "Number of dependents (3 or more: 3+)", "0", decides=False, monitored=True,
            why=PROHIBITED_BASIS),
    Feature("Education", "category", "Graduate or not", "Graduate", monitored=True, why=PROXY_RISK),
    Feature("Self_Employed", "category", "Whether the applicant is self-employed", "No", monitored=True,
            why=PROXY_RISK),
    Feature("ApplicantIncome", "number", "Applicant's monthly income", "5720", maximum=10_000_000),
    Feature("CoapplicantIncome", "number", "Co-applicant's monthly income", "0", maximum=10_000_000),
    Feature("LoanAmount", "number", "Loan amount in thousands", "110", maximum=1_000_000),
    Feature("Loan_Amount_Term", "number", "Term of the loan in months", "360", maximum=1_200),
    Feature("Credit_History", "flag", "1 if the credit history meets guidelines, else 0", "1"),
    Feature("Property_Area", "category", "Urban, Semiurban or Rural", "Urban", monitored=True,
            why="Decides, and is monitored: geography can stand in for protected groups."),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
DECISION_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.decides)
PROTECTED_ATTRIBUTES: tuple[str, ...] = tuple(f.name for f in FEATURES if not f.decides)  # optional columns
MONITORED_ATTRIBUTES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.monitored)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "category")
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "number")
FLAG_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "flag")
REQUIRED_COLUMNS: tuple[str, ...] = (ID_COLUMN, *DECISION_FEATURES)
FEATURES_BY_NAME = {f.name: f for f in FEATURES}

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise_name(text: object) -> str:
    """Key under which header names and category values are compared.

    Case, whitespace, underscores and hyphens do not matter: `loan id`, `LOAN_ID`, ` Loan-Id ` and
    `LoanID` all give `loanid`; `Applicant Income` meets `ApplicantIncome`, `Semi-urban` `Semiurban`.
    """
    return _SEPARATORS.sub("", str(text).casefold())


def cell_text(value: object) -> str:
    """A cell as text, whatever the reader gave: "" when missing, integral numbers as integers
    (spreadsheets and JSON give IDs and codes as `1001.0`), dates in ISO form, text stripped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def category_key(value: object) -> str | None:
    """Key under which a categorical cell is matched to a training value, or None if missing.

    Beyond `normalise_name`, a trailing `+` is dropped so `3` and `3+` meet, and integral numbers
    read as integers (`cell_text`).
    """
    key = normalise_name(cell_text(value)).removesuffix("+")
    if key.endswith(".0") and key[:-2].isdigit():
        key = key[:-2]
    return None if key in MISSING_TOKENS else key


def columns_by_key() -> dict[str, str]:
    """Normalised header key -> canonical column name, for every column of the contract."""
    return {normalise_name(name): name for name in (ID_COLUMN, *FEATURE_NAMES)}


# The outcome column of labelled files (re-scored applications whose decisions are known).
OUTCOME_KEYS = {"y": 1, "yes": 1, "1": 1, "n": 0, "no": 0, "0": 0}


def outcome_label(value: object) -> int:
    """1 approved, 0 declined, -1 blank or not recognised (left out of the evaluation, never an error)."""
    key = category_key(value)
    return OUTCOME_KEYS.get(key, -1) if key is not None else -1
