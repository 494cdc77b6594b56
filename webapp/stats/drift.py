"""Population drift: how far a file's applicants are from the training population, per feature.

Training stores each feature's distribution in the model card: for numbers, decile bin edges and
the share of rows per bin; for categories, the share per value; for both, the share missing (its own
bin). A scored file is binned the same way, chunk by chunk (counts merge exactly), and compared with
the Population Stability Index, PSI = sum((a - e) * ln(a / e)) over bins, with shares floored at
SHARE_FLOOR so an empty bin does not make it infinite. Conventional levels: below 0.1 none,
0.1-0.25 moderate, above 0.25 major.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from webapp.stats.fairness import FEW_VALUES, category_names  # up to FEW_VALUES values are counted in Python
from webapp.utils.caching import per_object

SHARE_FLOOR = 1e-4
MIN_ROWS = 100
MODERATE, MAJOR = 0.1, 0.25
MISSING = "(missing)"
OTHER = "(other)"


def level(psi: float) -> str:
    return "major" if psi > MAJOR else "moderate" if psi >= MODERATE else "none"


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population Stability Index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def number_bins(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin index per value: 0 .. len(edges) for (-inf, e1), [e1, e2), …, [e_last, inf), as
    `np.digitize`; the last index + 1 for missing."""
    values = np.asarray(values, dtype=np.float64)
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return np.where(np.isnan(values), len(edges) + 1, bins)


def category_bins(values: pd.Categorical, names: list[str]) -> np.ndarray:
    """Bin index per value: the position of its category in `names`, len(names) for any other
    value, len(names) + 1 for missing."""
    position = {name: i for i, name in enumerate(names)}
    table = np.array([position.get(str(c), len(names)) for c in values.categories] + [len(names) + 1])
    return table[np.asarray(values.codes)]


def _number_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts per bin of number_bins, from one comparison per edge: the count at or above each edge
    (NaN compares false). Measured: 13x faster than searchsorted + bincount for nine edges."""
    if len(values) <= FEW_VALUES:  # in Python: a few values cost less than numpy's ten calls
        counts = [0] * (len(edges) + 2)
        for value in values.tolist():
            counts[len(edges) + 1 if value != value else bisect.bisect_right(edges, value)] += 1
        return np.array(counts, dtype=np.int64)
    missing = int(np.isnan(values).sum())
    present = len(values) - missing
    at_least = [int(np.count_nonzero(values >= edge)) for edge in edges]
    bounds = [present, *at_least, 0]
    return np.array([a - b for a, b in zip(bounds, bounds[1:])] + [missing], dtype=np.int64)


def _category_counts(values: pd.Categorical, shares: dict[str, float]) -> np.ndarray:
    """Counts per bin of category_bins (the names: `shares`' keys), counting codes first: a few
    categories, however many rows."""
    names = _positions(shares)
    bins = [len(names) + 1] + [names.get(c, len(names)) for c in category_names(values.categories)]  # code -1 first
    if len(values) <= FEW_VALUES:
        counts = [0] * (len(names) + 2)
        for code in values.codes.tolist():
            counts[bins[code + 1]] += 1
        return np.array(counts, dtype=np.int64)
    by_code = np.bincount(np.asarray(values.codes) + 1, minlength=len(values.categories) + 1)
    return np.bincount(np.array(bins), weights=by_code, minlength=len(names) + 2).astype(np.int64)


def training_distribution(numbers: dict[str, np.ndarray], categories: dict[str, pd.Categorical]) -> dict:
    """The card's `training_distribution`: decile edges and shares per number, shares per category."""
    out = {}
    for name, values in numbers.items():
        present = values[~np.isnan(values)]
        edges = np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9))).tolist() if len(present) else []
        counts = np.bincount(number_bins(values, edges), minlength=len(edges) + 2)
        shares = counts / max(len(values), 1)
        out[name] = {"kind": "number", "edges": edges, "shares": shares[:-1].round(6).tolist(),
                     "missing": round(float(shares[-1]), 6)}
    for name, values in categories.items():
        names = [str(c) for c in values.categories]
        counts = np.bincount(category_bins(values, names), minlength=len(names) + 2)
        shares = counts / max(len(values), 1)
        out[name] = {"kind": "category", "shares": dict(zip(names, shares[:len(names)].round(6).tolist())),
                     "missing": round(float(shares[-1]), 6)}
    return out


@per_object  # a card's shares are made once per model, and each chunk's categories come from a kept dtype
def _positions(shares: dict[str, float]) -> dict[str, int]:
    return {name: i for i, name in enumerate(shares)}


@dataclass
class DriftTally:
    """Bin counts per feature over the scored rows of a file, against the training distribution."""

    reference: dict
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    rows: int = 0

    def add(self, values: dict[str, np.ndarray | pd.Categorical], rows: np.ndarray) -> None:
        """Tally one chunk: `values` by feature (floats or Categoricals), `rows` the rows to count."""
        every_row = bool(rows.all())
        self.rows += len(rows) if every_row else int(rows.sum())
        for name, spec in self.reference.items():
            if name not in values:
                continue
            column = values[name] if every_row else values[name][rows]
            if spec["kind"] == "number":
                counts = _number_counts(np.asarray(column, dtype=np.float64), spec["edges"])
            else:
                counts = _category_counts(column, spec["shares"])
            self.counts[name] = self.counts[name] + counts if name in self.counts else counts

    def merge(self, other: "DriftTally") -> "DriftTally":
        self.rows += other.rows
        for name, counts in other.counts.items():
            self.counts[name] = self.counts[name] + counts if name in self.counts else counts.copy()
        return self

    def report(self) -> dict:
        if self.rows < MIN_ROWS:
            return {"rows": self.rows, "judged": False, "features": {}, "flagged": [],
                    "note": f"Too few scored rows to judge drift ({self.rows}; at least {MIN_ROWS} are needed)."}
        features = {}
        for name, counts in self.counts.items():
            spec = self.reference[name]
            expected = self._expected(spec)
            actual = counts / counts.sum()
            value = psi(expected, actual)
            features[name] = {"psi": round(value, 4), "level": level(value), "bins": self._bins(spec),
                              "expected": np.round(expected, 4).tolist(), "actual": np.round(actual, 4).tolist()}
        return {"rows": self.rows, "judged": True, "features": features,
                "flagged": [name for name, entry in features.items() if entry["level"] == "major"]}

    @staticmethod
    def _expected(spec: dict) -> np.ndarray:
        """Training shares over the same bins as the counts: the bins, `other` (categories only;
        never seen in training, so 0) and missing."""
        if spec["kind"] == "number":
            return np.array([*spec["shares"], spec["missing"]])
        return np.array([*spec["shares"].values(), 0.0, spec["missing"]])

    @staticmethod
    def _bins(spec: dict) -> list[str]:
        if spec["kind"] == "category":
            return [*spec["shares"], OTHER, MISSING]
        edges = [f"{e:,.6g}" for e in spec["edges"]]
        if not edges:
            return ["all", MISSING]
        labels = [f"< {edges[0]}"] + [f"{a}–{b}" for a, b in zip(edges, edges[1:])] + [f"≥ {edges[-1]}"]
        return [*labels, MISSING]
