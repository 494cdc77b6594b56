"""The shapes of the JSON answers, as pydantic models: the OpenAPI document's schemas are generated
from these (`openapi_schemas`), and the tests validate real answers against them — a field the
service adds without describing it here fails (`extra="forbid"` on the summary and the answer)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from webapp.core.reasons import ACTIONS, REASONS

ReasonCode = Literal[tuple(r.code for r in REASONS)]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Group(_Strict):
    rows: int
    approved: int
    approval_rate: float | None


class Parity(_Strict):
    """Approval parity of one monitored attribute (four-fifths screen over groups of 30+ scored rows)."""

    groups: dict[str, Group]
    adverse_impact_ratio: float | None = Field(description="Lowest approval rate over the highest among judged "
                                                           "groups; null when fewer than two are judged")
    flagged: bool = Field(description="The ratio is below 0.8")
    judged_groups: int


class DriftFeature(_Strict):
    psi: float
    level: Literal["none", "moderate", "major"]
    bins: list[str]
    expected: list[float]
    actual: list[float]


class Drift(_Strict):
    """Population Stability Index of each feature against the training data; not judged under 100 rows."""

    rows: int
    judged: bool
    note: str | None = None
    flagged: list[str]
    features: dict[str, DriftFeature] = {}


class CalibrationBand(_Strict):
    lower: float
    upper: float
    rows: int
    mean_predicted: float | None
    observed_rate: float | None


class Evaluation(_Strict):
    """Only when the input carries the known outcome (Loan_Status Y/N, Yes/No, 1/0)."""

    rows: int
    unlabelled: int
    note: str | None = None
    accuracy: float | None = None
    roc_auc: float | None = None
    brier: float | None = None
    confusion: dict[Literal["tp", "fp", "tn", "fn"], int] | None = None
    predicted_approval_rate: float | None = None
    actual_approval_rate: float | None = None
    calibration: list[CalibrationBand] = []


class Failure(_Strict):
    row: int = Field(description="1-based row number in the input")
    error: str


class SummaryReport(_Strict):
    """The summary report of one batch: built once, read by JSON answers, headers, the results page,
    the CLI and the decision record."""

    batch_id: str | None = Field(None, description="The decision record's batch (also the X-Batch-Id header)")
    rows: int
    scored: int
    failed: int
    approved: int
    approval_rate: float | None
    actions: dict[Literal[ACTIONS[1:]], int] = Field(  # type: ignore[valid-type]
        description="Scored rows by action: approve, decline, or incomplete (a decline that rests on missing "
                    "information gets a notice of incompleteness, not a denial)")
    failures_by_reason: dict[str, int]
    first_failures: list[Failure] = Field(description="The first 20 failed rows")
    probability_histogram: list[int] = Field(description="Scored rows per tenth of approval probability")
    input_format: str
    extra_columns: list[str] = Field(description="Input columns the contract does not use")
    fairness: dict[str, Parity] = Field(description="Approval parity per monitored attribute in the input")
    decline_reasons: dict[ReasonCode, int] | None = Field(
        None, description="With explain: reason code -> declined applications citing it")
    drift: Drift | None = None
    evaluation: Evaluation | None = None
    challenger: dict | None = Field(None, description="With a challenger model set: how its decisions compare")


class Reason(_Strict):
    code: ReasonCode
    feature: str
    text: str
    contribution: float | None


class Prediction(BaseModel):
    """One input row's answer; joined input columns (include_input) follow as further keys."""

    model_config = ConfigDict(extra="allow")
    Loan_ID: str
    Loan_Status: Literal["Y", "N"] | None
    Approval_Probability: float | None = Field(ge=0, le=1)
    Error: str | None = Field(description="Why the row has no prediction")
    contributions: dict[str, float] | None = Field(
        None, description="With explain: each decision feature's contribution to the log-odds of approval; "
                          "base + their sum = log(p / (1 - p)). Null for failed rows.")
    reasons: list[Reason] | None = Field(None, description="With explain: the stated reasons, most damaging first, "
                                                           "at most 4, each lowering the log-odds materially")
    Action: Literal["approve", "decline", "incomplete"] | None = Field(
        description="What the lender does: approve, decline, or ask for what is missing (incomplete)")


class ModelAbout(_Strict):
    name: str
    version: str
    explanation_base: float | None = Field(None, description="With explain: the base log-odds contributions "
                                                             "start from (the training population's average)")
    explanation_method: str | None = None


class ScoreResult(_Strict):
    predictions: list[Prediction]
    summary: SummaryReport
    model: ModelAbout


def openapi_schemas() -> dict:
    """components.schemas for the OpenAPI document, from the models above (refs resolved there)."""
    schemas: dict = {}
    for model in (ScoreResult, SummaryReport):
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(generated.pop("$defs", {}))
        schemas[model.__name__] = generated
    return schemas


def query_parameters(query_model: type[BaseModel]) -> list[dict]:
    """OpenAPI query parameters from the pydantic model that parses them."""
    schema = query_model.model_json_schema()
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        # An absent parameter is the "None" of an optional one: describe the value's own type.
        choices = [p for p in prop.pop("anyOf", []) if p.get("type") != "null"]
        if choices:
            prop.update(choices[0])
        if prop.get("default", 0) is None:
            del prop["default"]
        parameters.append({"name": name, "in": "query", "required": False, "description": description,
                           "schema": prop})
    return parameters
