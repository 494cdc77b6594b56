"""Approval parity across the groups of each monitored attribute, with the four-fifths screen.

The adverse impact ratio is the lowest group approval rate over the highest, among groups large
enough to judge; below 0.8 the attribute is flagged (Uniform Guidelines, 29 CFR 1607.4(D)). It is a
screen, not a verdict. Missing and unrecognised values are listed as their own groups but never
judged: they are not groups of applicants.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from webapp.utils.caching import per_object

MIN_GROUP_ROWS = 30
FOUR_FIFTHS = 0.8
MISSING = "(missing)"
NOT_RECOGNISED = "(not recognised)"
UNJUDGED_GROUPS = (MISSING, NOT_RECOGNISED)
FEW_VALUES = 64  # up to this many rows a chunk is tallied in Python: numpy's cost per call is most of the work


@dataclass
class ParityTally:
    """attribute -> group -> [scored rows, approved rows]; only scored rows count (a failed row has
    no decision to compare)."""

    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def add(self, attribute: str, values: pd.Series | pd.Categorical, approved: np.ndarray,
            scored: np.ndarray) -> None:
        """Tally one chunk. `values` is a Categorical (missing: code -1); `approved` and `scored`
        are boolean arrays of the same length."""
        categorical = values.array if isinstance(values, pd.Series) else values
        names = [MISSING, *category_names(categorical.categories)]
        if len(categorical) <= FEW_VALUES:
            rows, approvals = _few_counts(categorical.codes.tolist(), approved.tolist(), scored.tolist(), len(names))
        else:
            # One bincount over (group, approved) keys; missing (code -1) becomes group 0.
            keys = (np.asarray(categorical.codes, dtype=np.intp) + 1) * 2 + approved
            if not scored.all():
                keys = keys[scored]
            counts = np.bincount(keys, minlength=2 * len(names))
            approvals = counts[1::2]
            rows = counts[0::2] + approvals
        groups = self.counts.setdefault(attribute, {})
        for name, n, k in zip(names, rows, approvals):
            if n:
                totals = groups.setdefault(name, [0, 0])
                totals[0] += int(n)
                totals[1] += int(k)

    def merge(self, other: "ParityTally") -> "ParityTally":
        for attribute, groups in other.counts.items():
            mine = self.counts.setdefault(attribute, {})
            for name, (n, k) in groups.items():
                totals = mine.setdefault(name, [0, 0])
                totals[0] += n
                totals[1] += k
        return self

    def report(self) -> dict:
        return {attribute: parity(groups) for attribute, groups in self.counts.items()}

    def flagged(self) -> list[str]:
        return [attribute for attribute, entry in self.report().items() if entry["flagged"]]


@per_object(at_most=FEW_VALUES)
def category_names(categories: pd.Index) -> tuple[str, ...]:
    """A Categorical's categories as text. Validated chunks share their dtype's categories (one per
    feature), so a few are made once, not per chunk: iterating an Index costs microseconds, more
    than a single record's tally."""
    return tuple(map(str, categories))


def _few_counts(codes: list[int], approved: list[bool], scored: list[bool], groups: int) -> tuple[list, list]:
    """Scored rows and approvals per group (missing, code -1, first), counted in Python."""
    rows, approvals = [0] * groups, [0] * groups
    for code, yes, counted in zip(codes, approved, scored):
        if counted:
            rows[code + 1] += 1
            approvals[code + 1] += yes
    return rows, approvals


def parity(groups: dict[str, list[int]]) -> dict:
    """One attribute's report: every group's rate, the adverse impact ratio and the flag."""
    listed = {name: {"rows": n, "approved": k, "approval_rate": round(k / n, 4) if n else None}
              for name, (n, k) in sorted(groups.items(), key=lambda item: (item[0] in UNJUDGED_GROUPS, item[0]))}
    rates = [k / n for name, (n, k) in groups.items() if name not in UNJUDGED_GROUPS and n >= MIN_GROUP_ROWS]
    ratio = None
    if len(rates) >= 2:
        ratio = min(rates) / max(rates) if max(rates) > 0 else 1.0
    return {"groups": listed, "adverse_impact_ratio": None if ratio is None else round(ratio, 4),
            "flagged": ratio is not None and ratio < FOUR_FIFTHS,
            "judged_groups": sum(1 for name, (n, _) in groups.items()
                                 if name not in UNJUDGED_GROUPS and n >= MIN_GROUP_ROWS)}
