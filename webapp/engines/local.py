"""The single-process engine: the parts one after another, in this process."""
from __future__ import annotations

from collections.abc import Callable

from webapp.engines.parts import Options, PartResult, score_part


def run(urls: list[str], model, options: Options, scratch: str, progress: Callable[[int], None]) -> list[PartResult]:
    results = []
    for index, url in enumerate(urls):
        results.append(score_part(index, url, model, options, scratch))
        progress(1)
    return results
