"""The challenger beside the champion on the same rows: how often they agree, which rows would flip
and which way, how far the probability moves, and — on labelled files — both evaluations side by
side. Fed chunk by chunk with plain arrays and merged exactly across chunks, like the other tallies.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from webapp.stats.evaluation import EvaluationTally


@dataclass
class ChallengerTally:
    version: str
    threshold: float = 0.5
    scored: int = 0  # rows both models scored (the valid rows)
    agreed: int = 0
    to_approved: int = 0  # declined by the champion, approved by the challenger
    to_declined: int = 0  # approved by the champion, declined by the challenger
    shift_sum: float = 0.0  # sum of challenger - champion probability
    champion_evaluation: EvaluationTally = field(default=None)
    challenger_evaluation: EvaluationTally = field(default=None)
    labelled: bool = False

    def __post_init__(self):
        self.champion_evaluation = self.champion_evaluation or EvaluationTally(self.threshold)
        self.challenger_evaluation = self.challenger_evaluation or EvaluationTally(self.threshold)

    def add(self, champion_approved: np.ndarray, challenger_approved: np.ndarray, champion_probability: np.ndarray,
            challenger_probability: np.ndarray, valid: np.ndarray, labels: np.ndarray | None = None) -> None:
        """Booleans for the statuses (True: approved) and the valid rows; `labels` as EvaluationTally
        takes them (1, 0, -1 unknown) when the file carries outcomes."""
        valid = np.asarray(valid, dtype=bool)
        champion = np.asarray(champion_approved, dtype=bool)[valid]
        challenger = np.asarray(challenger_approved, dtype=bool)[valid]
        self.scored += int(valid.sum())
        self.agreed += int((champion == challenger).sum())
        self.to_approved += int((~champion & challenger).sum())
        self.to_declined += int((champion & ~challenger).sum())
        shift = np.asarray(challenger_probability, dtype=np.float64)[valid] - np.asarray(
            champion_probability, dtype=np.float64)[valid]
        self.shift_sum += float(shift.sum())
        if labels is not None:
            self.labelled = True
            self.champion_evaluation.add(np.asarray(champion_probability, dtype=np.float64), labels, valid)
            self.challenger_evaluation.add(np.asarray(challenger_probability, dtype=np.float64), labels, valid)

    def merge(self, other: "ChallengerTally") -> "ChallengerTally":
        if other.version != self.version:
            raise ValueError(f"cannot merge the tallies of challengers {self.version} and {other.version}")
        self.scored += other.scored
        self.agreed += other.agreed
        self.to_approved += other.to_approved
        self.to_declined += other.to_declined
        self.shift_sum += other.shift_sum
        self.labelled |= other.labelled
        self.champion_evaluation.merge(other.champion_evaluation)
        self.challenger_evaluation.merge(other.challenger_evaluation)
        return self

    def report(self) -> dict:
        report = {
            "version": self.version,
            "rows": self.scored,
            "agreement": round(self.agreed / self.scored, 4) if self.scored else None,
            "flips": {"declined_to_approved": self.to_approved, "approved_to_declined": self.to_declined},
            "mean_probability_shift": round(self.shift_sum / self.scored, 6) if self.scored else None,
        }
        if self.labelled:
            report["evaluation"] = {"champion": self.champion_evaluation.report(),
                                    "challenger": self.challenger_evaluation.report()}
        return report
