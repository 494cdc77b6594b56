"""Score every row of a table: each input row comes out, in order, with a prediction or an error."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

import numpy as np
import pandas as pd

from webapp.core.contract import ID_COLUMN, NEGATIVE_LABEL, POSITIVE_LABEL
from webapp.core.errors import EmptyInput, ExplanationsUnavailable, InputTooLarge, RowsFailed
from webapp.core.limits import DEFAULT_LIMITS, Limits
from webapp.core.reading import Table, open_table
from webapp.core.reasons import (
    ACTION_COLUMN,
    ACTIONS,
    DECLINE_CODE,
    MAX_REASONS,
    REASON_CODES_COLUMN,
    REASON_COLUMNS,
    REASONS,
    Explanations,
    APPROVE_CODE,
    action_column,
    decide_actions,
    reason_contributions,
    reason_columns,
)
from webapp.core.results import JSON_EXPLANATION_FIELDS, ExplainedRows, FeatureColumns, ScoredChunk
from webapp.core.validation import check_chunk, match_columns
from webapp.stats.drift import DriftTally
from webapp.stats.evaluation import EvaluationTally
from webapp.stats.fairness import ParityTally

REASON_COLUMNS_ALL = (*REASON_COLUMNS, REASON_CODES_COLUMN)
HISTOGRAM_BINS = 10
MAX_LISTED_FAILURES = 20
STATUS_DTYPE = pd.CategoricalDtype(["", NEGATIVE_LABEL, POSITIVE_LABEL])


@dataclass
class Summary:
    rows: int = 0
    scored: int = 0
    failed: int = 0
    approved: int = 0
    failures_by_reason: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)  # approve / decline / incomplete -> rows
    first_failures: list[dict] = field(default_factory=list)
    probability_histogram: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)
    fairness: ParityTally = field(default_factory=ParityTally)  # approval parity per monitored attribute
    extra_columns: list[str] = field(default_factory=list)
    decline_reasons: Counter | None = None  # reason code -> declined rows citing it; None when not explained
    drift: DriftTally | None = None  # None when the model card has no training distribution
    evaluation: EvaluationTally | None = None  # only for files that carry the known outcome
    input_format: str = ""
    input_details: dict = field(default_factory=dict)

    def merge(self, later: "Summary") -> "Summary":
        """Add the summary of the rows that follow these (another part of the same dataset): every
        count exactly, failures renumbered after this part's rows."""
        self.first_failures += [{**f, "row": f["row"] + self.rows} for f in later.first_failures]
        del self.first_failures[MAX_LISTED_FAILURES:]
        self.rows += later.rows
        self.scored += later.scored
        self.failed += later.failed
        self.approved += later.approved
        self.failures_by_reason.update(later.failures_by_reason)
        self.actions.update(later.actions)
        self.probability_histogram = [a + b for a, b in zip(self.probability_histogram, later.probability_histogram)]
        self.fairness.merge(later.fairness)
        if self.decline_reasons is not None and later.decline_reasons is not None:
            self.decline_reasons.update(later.decline_reasons)
        for name in ("drift", "evaluation"):
            mine, theirs = getattr(self, name), getattr(later, name)
            if mine is not None and theirs is not None:
                mine.merge(theirs)
            elif theirs is not None:
                setattr(self, name, theirs)
        return self

    @property
    def approval_rate(self) -> float | None:
        return round(self.approved / self.scored, 4) if self.scored else None

    def to_dict(self) -> dict:
        """The summary report: the one shape that JSON answers, headers, the results page, the CLI
        and the decision record all read (`webapp.service.schemas.SummaryReport` describes it).
        Build it once per batch, after the last chunk."""
        return {
            "rows": self.rows, "scored": self.scored, "failed": self.failed, "approved": self.approved,
            "approval_rate": self.approval_rate,
            "actions": {name: self.actions.get(name, 0) for name in ACTIONS[1:]},
            "failures_by_reason": dict(self.failures_by_reason.most_common()),
            "first_failures": self.first_failures,
            "probability_histogram": self.probability_histogram,
            "input_format": self.input_format,
            "extra_columns": self.extra_columns,
            "fairness": self.fairness.report(),
            **({"decline_reasons": dict(self.decline_reasons.most_common())} if self.decline_reasons is not None
               else {}),
            **({"drift": self.drift.report()} if self.drift is not None else {}),
            **({"evaluation": self.evaluation.report()} if self.evaluation is not None else {}),
        }


class ScoringModel(Protocol):
    """What the core needs of a model (`webapp.model.loading.LoadedModel` is one); the core never
    imports the model package, so any object with these members scores."""

    name: str
    version: str
    threshold: float
    contract: object  # validation.Contract
    training_distribution: dict | None  # the card's, for drift; None: not judged

    def approval_probability(self, features: FeatureColumns) -> np.ndarray: ...

    def explain(self, features: FeatureColumns) -> Explanations | None: ...


class Scoring:
    """Iterate `chunks()` for scored chunks (or the object itself for their result frames), chunk by
    chunk; `summary` is complete once iteration ends."""

    def __init__(self, table: Table, model: ScoringModel, *, limits: Limits = DEFAULT_LIMITS,
                 include_input: bool = False, on_error: str = "continue", explain: str | None = None,
                 reasons_for: str = "declined"):
        """`explain`: None (no explanations), "reasons" (the reason columns) or "contributions"
        (those, and each feature's contribution in columns `Contribution_<feature>`, for JSON).
        `reasons_for`: "declined" (adverse actions only) or "all" scored rows."""
        self.table = table
        self.model = model
        self.limits = limits
        self.include_input = include_input
        self.on_error = on_error
        self.explain = explain
        self.reasons_for = reasons_for
        self.contract = model.contract
        # Whole-file problems surface before any row.
        self.plan = match_columns(table.columns, self.contract.required_columns, self.contract.monitored_only)
        self.summary = Summary(extra_columns=list(self.plan.extra_columns.values()),
                               input_format=table.format, input_details=table.details,
                               decline_reasons=Counter() if explain else None,
                               drift=DriftTally(model.training_distribution) if model.training_distribution else None,
                               evaluation=EvaluationTally(model.threshold) if self.plan.outcome is not None else None)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return (chunk.frame for chunk in self.chunks())

    def chunks(self) -> Iterator[ScoredChunk]:
        kinds = self.plan.kinds(self.contract, self.include_input)
        started = time.monotonic()
        for chunk in self.table.chunks(kinds):
            if self.summary.rows + len(chunk) > self.limits.max_rows:
                raise InputTooLarge(f"The file has more than {self.limits.max_rows:,} rows; split it.",
                                    max_rows=self.limits.max_rows)
            if self.limits.time_budget is not None and time.monotonic() - started > self.limits.time_budget:
                raise InputTooLarge(f"Scoring took longer than the {self.limits.time_budget:,.0f} s allowed for one "
                                    "request; split the file.", code="time-budget-exceeded")
            result = self._score_chunk(chunk)
            self.summary.rows += len(chunk)
            yield result
        if self.summary.rows == 0:
            raise EmptyInput("The file has a header but no rows to score.")
        if self.on_error == "fail" and self.summary.failed:
            raise RowsFailed(f"{self.summary.failed:,} of {self.summary.rows:,} rows failed validation.",
                             failures=self.summary.first_failures,
                             failures_by_reason=dict(self.summary.failures_by_reason))

    def _score_chunk(self, chunk: pd.DataFrame) -> ScoredChunk:
        checked = check_chunk(chunk, self.plan, self.contract, self.limits)
        valid = checked.valid
        probability = np.full(len(chunk), np.nan)
        explanations = None
        if valid.any():
            if self.explain:
                explanations = self.model.explain(checked.features[valid])
                if explanations is None:
                    raise ExplanationsUnavailable(f"The loaded model ({self.model.version}) cannot explain its "
                                                  "decisions; score without explain.")
                probability[valid] = explanations.probability
            else:
                probability[valid] = self.model.approval_probability(checked.features[valid])
        approved = probability >= self.model.threshold
        # Status as a Categorical ("" when failed) and errors as plain objects: building a million
        # strings for two distinct values cost more than scoring them.
        status = pd.Categorical.from_codes(np.where(valid, approved.astype(np.int8) + 1, 0), dtype=STATUS_DTYPE,
                                           validate=False)
        columns = {
            ID_COLUMN: checked.ids,
            "Loan_Status": status,
            "Approval_Probability": np.round(probability, 4),
            "Error": checked.errors,  # kept as objects by ScoredChunk.frame
        }
        action, principal, contribution = self._decide(checked, valid, approved, explanations)
        explained = None
        if self.explain:
            reason_frame, explained = self._explanation_columns(explanations, valid, principal, action)
            columns.update(reason_frame)
        columns[ACTION_COLUMN] = action_column(action)
        if self.include_input:
            taken = set(columns) | (set(JSON_EXPLANATION_FIELDS) if self.explain == "contributions" else set())
            for position, name in self.plan.extra_columns.items():
                columns[joined_name(name, taken)] = chunk[position].to_numpy()
        self._tally(checked, valid, probability, approved, action)
        return ScoredChunk(columns, valid=valid, probability=probability, features=checked.features,
                           monitored=checked.given, explained=explained, principal=principal, action=action,
                           reason_contribution=contribution,
                           first_row=self.summary.rows + 1, outcomes=checked.outcomes)

    def _decide(self, checked, valid: np.ndarray, approved: np.ndarray,
                explanations: Explanations | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each row's action code (approve, decline, incomplete; 0 for failed rows), its stated
        reasons (indices into REASONS, -1 for none) and their contributions (NaN for none).

        Unexplained answers still need both: a decline resting on missing inputs is `incomplete`, and
        the decision record keeps every decline's reasons — so the declined rows alone are explained."""
        action = np.zeros(len(valid), dtype=np.int8)
        principal = np.full((len(valid), MAX_REASONS), -1, dtype=np.int16)
        contribution = np.full((len(valid), MAX_REASONS), np.nan)
        rows = np.flatnonzero(valid)
        approved_valid = approved[valid]
        if explanations is None and not self.explain:
            declined = np.flatnonzero(~approved_valid)
            explanations = self.model.explain(checked.features[valid][declined]) if len(declined) else None
            rows, approved_valid = rows[declined], approved_valid[declined]
            action[valid] = np.where(approved[valid], APPROVE_CODE, DECLINE_CODE)
        if explanations is None:
            action[valid] = np.where(approved[valid], APPROVE_CODE, DECLINE_CODE)
            return action, principal, contribution
        decided = decide_actions(explanations, approved_valid, self.model.threshold,
                                 reasons_for_approved=self.reasons_for == "all" and self.explain is not None)
        action[rows], principal[rows] = decided.action, decided.principal
        contribution[rows] = reason_contributions(explanations, decided.principal)
        return action, principal, contribution

    def _explanation_columns(self, explanations: Explanations | None, valid: np.ndarray, principal: np.ndarray,
                             action: np.ndarray) -> tuple[dict, ExplainedRows | None]:
        """Reason columns, or for JSON the arrays behind each row's reasons and contributions."""
        cited = principal[action == DECLINE_CODE]
        counts = np.bincount(cited[cited >= 0], minlength=len(REASONS))
        self.summary.decline_reasons.update({REASONS[i].code: int(n) for i, n in enumerate(counts) if n})
        if self.explain == "contributions":
            # JSON answers: rows carry lists and dicts, built per row from the arrays by
            # writing.to_records; as columns they would cost more than the scoring (measured).
            return {}, ExplainedRows(principal, explanations, valid)
        return reason_columns(principal), None

    def _tally(self, checked, valid, probability, approved, action) -> None:
        s = self.summary
        counts = np.bincount(action, minlength=len(ACTIONS))
        s.actions.update({ACTIONS[i]: int(n) for i, n in enumerate(counts) if i and n})
        scored = int(valid.sum())
        s.scored += scored
        s.failed += len(valid) - scored
        s.approved += int((approved & valid).sum())
        s.failures_by_reason.update(checked.reasons)
        for row in np.flatnonzero(~valid)[: max(0, MAX_LISTED_FAILURES - len(s.first_failures))]:
            s.first_failures.append({"row": s.rows + int(row) + 1, "error": checked.errors[row]})
        counts = probability_counts(probability[valid])
        s.probability_histogram = [a + int(b) for a, b in zip(s.probability_histogram, counts)]
        for attribute, groups in checked.monitored.items():
            s.fairness.add(attribute, groups, approved, valid)
        if s.drift is not None:
            s.drift.add({**checked.arrays, **checked.monitored}, valid)
        if s.evaluation is not None:
            s.evaluation.add(probability, checked.outcomes, valid)


HISTOGRAM_EDGES = np.linspace(0, 1, HISTOGRAM_BINS + 1)


def probability_counts(probability: np.ndarray) -> np.ndarray:
    """What `np.histogram(probability, HISTOGRAM_BINS, range=(0, 1))` counts (each bin closed on
    the left, the last on both sides), in three numpy calls instead of its twenty."""
    bins = np.minimum(np.searchsorted(HISTOGRAM_EDGES, probability, side="right") - 1, HISTOGRAM_BINS - 1)
    return np.bincount(bins, minlength=HISTOGRAM_BINS)


def joined_name(name: str, taken: set[str]) -> str:
    """An input column's name in the output: never one of the output's own (an input `Loan_Status`
    comes back as `input_Loan_Status`, beside the prediction, not instead of it)."""
    while name in taken:
        name = f"input_{name}"
    taken.add(name)
    return name


def score(source: bytes | BinaryIO, model: ScoringModel, *, sheet: str | None = None, json_hint: bool = False,
          limits: Limits = DEFAULT_LIMITS, include_input: bool = False, on_error: str = "continue",
          explain: str | None = None, reasons_for: str = "declined") -> Scoring:
    """Open `source` (CSV, Excel or JSON, decided by content) and prepare to score it."""
    table = open_table(source, sheet=sheet, json_hint=json_hint, limits=limits)
    return Scoring(table, model, limits=limits, include_input=include_input, on_error=on_error, explain=explain,
                   reasons_for=reasons_for)
