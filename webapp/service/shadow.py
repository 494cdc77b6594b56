"""The challenger in shadow: each chunk the champion scored is scored again by the challenger on
the same validated inputs, and only tallied (`webapp.stats.challenger.ChallengerTally`) — the
chunks pass on untouched, so the answer is the champion's alone, byte for byte.

A challenger that fails never fails the batch: its report says it stopped, and why."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from webapp.core.results import ScoredChunk
from webapp.stats.challenger import ChallengerTally

log = logging.getLogger(__name__)


class Shadow:
    def __init__(self, champion, challenger):
        self.champion, self.challenger = champion, challenger
        self.tally = ChallengerTally(challenger.version, float(challenger.threshold))
        self.error: str | None = None

    def add(self, chunk: ScoredChunk) -> None:
        if self.error is not None or chunk.features is None:
            return
        valid = np.asarray(chunk.valid, dtype=bool)
        probability = np.full(len(valid), np.nan)
        try:
            if valid.any():
                probability[valid] = self.challenger.approval_probability(chunk.features[valid])
        except Exception as exc:  # noqa: BLE001 - the shadow never decides anything, so it never breaks a batch
            log.error("challenger %s failed: %s", self.challenger.version, type(exc).__name__)  # its text may quote inputs
            self.error = type(exc).__name__
            return
        champion = chunk.probability
        self.tally.add(champion >= float(self.champion.threshold), probability >= self.tally.threshold,
                       champion, probability, valid, chunk.outcomes)

    def report(self) -> dict:
        report = self.tally.report()
        report["champion"] = self.champion.version
        if self.error is not None:
            report["error"] = f"the challenger stopped scoring: {self.error}"
        return report


def shadowed(chunks: Iterator[ScoredChunk], champion, challenger) -> tuple[Iterator[ScoredChunk], Shadow]:
    """`chunks` unchanged, each also scored by `challenger` once the champion has scored it."""
    shadow = Shadow(champion, challenger)

    def passing() -> Iterator[ScoredChunk]:
        for chunk in chunks:
            shadow.add(chunk)
            yield chunk

    return passing(), shadow
