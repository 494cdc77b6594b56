"""Score one input into one answer: the plain function behind the API, the upload page and the CLI."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO, BinaryIO

from webapp.core.limits import DEFAULT_LIMITS, Limits
from webapp.core.scoring import ScoringModel, Summary, score
from webapp.core.writing import records_document, write_result

SPOOL_BYTES = 8 * 1024 * 1024  # answers larger than this go to an unnamed temporary file


@dataclass
class Answer:
    format: str
    summary: Summary
    document: dict | None = None    # JSON answers
    file: IO[bytes] | None = None   # CSV and Excel answers, positioned at the start


def explanation_level(fmt: str, explain: bool) -> str | None:
    """What `Scoring(explain=…)` should add: contributions only travel in JSON answers."""
    if not explain:
        return None
    return "contributions" if fmt == "json" else "reasons"


def score_input(source: BinaryIO | bytes, model: ScoringModel, fmt: str, *, sheet: str | None = None,
                json_hint: bool = False, limits: Limits = DEFAULT_LIMITS, include_input: bool = False,
                on_error: str = "continue", explain: bool = False, reasons_for: str = "declined") -> Answer:
    """`explain`: reasons (and, in JSON, each feature's contribution) for every scored row."""
    level = explanation_level(fmt, explain)
    scoring = score(source, model, sheet=sheet, json_hint=json_hint, limits=limits,
                    include_input=include_input, on_error=on_error, explain=level, reasons_for=reasons_for)
    if fmt == "json":
        document = records_document(scoring, scoring.summary, model, explained=explain)
        return Answer(fmt, scoring.summary, document=document)
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        write_result(scoring, out, fmt)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return Answer(fmt, scoring.summary, file=out)
