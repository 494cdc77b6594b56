"""Score one input into one answer: the function behind every entry point.

`open_scoring` opens an input and returns the core's `Scoring` (chunks on demand, for the engines,
which write part files); `score_input` goes all the way to the answer in the asked format with its
summary report built once, recording the batch on the way when given a `Recorder`.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from collections.abc import Callable
from typing import IO, BinaryIO, Protocol

from webapp.core.errors import is_storage_fault, storage_unavailable
from webapp.core.limits import DEFAULT_LIMITS, Limits
from webapp.core.results import ScoredChunk
from webapp.core.scoring import Scoring, ScoringModel, Summary, score
from webapp.core.writing import write_json_answer, write_result
from webapp.service.options import ScoringOptions
from webapp.service.shadow import shadowed

SPOOL_BYTES = 8 * 1024 * 1024  # answers larger than this go to an unnamed temporary file


class Recorder(Protocol):
    """Where a batch's decisions go as they are scored (`recording.BatchRecording` is the real one).
    `open` is called once the input's format is known; `fail` may come before it."""

    batch_id: str

    def open(self, input_format: str) -> "Recorder": ...

    def add(self, chunk: ScoredChunk) -> None: ...

    def complete(self, report: dict) -> None: ...

    def fail(self, reason: str) -> None: ...


@dataclass
class Answer:
    format: str
    summary: Summary
    report: dict                    # the summary report, built once: JSON body, headers, pages, CLI
    file: IO[bytes] | None = None   # the answer (unless written to `out`), positioned at the start
    batch_id: str | None = None
    model_version: str | None = None  # the champion that answered: X-Model-Version

    def json(self) -> dict:
        """A JSON answer as a dict (for small answers and tests: it reads the whole file, then closes it)."""
        import json

        with self.file:
            return json.load(self.file)

    @property
    def headers(self) -> dict:
        headers = summary_headers(self.report, self.batch_id)
        if self.model_version:
            headers["X-Model-Version"] = self.model_version
        return headers


def open_scoring(source: BinaryIO | bytes, model: ScoringModel, options: ScoringOptions, *,
                 limits: Limits = DEFAULT_LIMITS, json_hint: bool = False) -> Scoring:
    return score(source, model, sheet=options.sheet, json_hint=json_hint, limits=limits,
                 include_input=options.include_input, on_error=options.on_error,
                 explain=options.explanation_level, reasons_for=options.reasons_for)


def score_input(source: BinaryIO | bytes, model: ScoringModel, options: ScoringOptions, *,
                limits: Limits = DEFAULT_LIMITS, json_hint: bool = False,
                recorder: Recorder | None = None, out: BinaryIO | None = None,
                progress: Callable[[int], None] | None = None, challenger: ScoringModel | None = None) -> Answer:
    """The answer to `source` in `options.format`, and its summary report. With a `recorder`, every
    row is recorded and the batch completed before the answer is returned — or marked failed, never
    left looking complete. CSV, Excel and Parquet answers go to `out` when given (a stored result),
    else to `Answer.file`. `progress(rows_done)` is called after each chunk is recorded (the jobs
    worker's progress and cancellation point: an exception it raises fails the batch). With a
    `challenger`, every chunk is also scored by it in shadow and the report gains `challenger`; the
    answer's rows are the champion's alone."""
    answer = None
    try:
        scoring = open_scoring(source, model, options, limits=limits, json_hint=json_hint)
        if recorder is not None:
            recorder.open(scoring.table.format)
        chunks = _recorded(scoring.chunks(), recorder, progress)
        shadow = None
        if challenger is not None:
            chunks, shadow = shadowed(chunks, model, challenger)
        if options.format == "json":
            answer = Answer("json", scoring.summary, {})

            def finish() -> dict:
                answer.report = scoring.summary.to_dict()
                if shadow is not None:
                    answer.report["challenger"] = shadow.report()
                if recorder is not None:
                    answer.report["batch_id"] = recorder.batch_id
                return answer.report

            target = out if out is not None else tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
            try:
                write_json_answer(chunks, target, finish, model, explained=options.explain)
            except BaseException:
                if out is None:
                    target.close()
                raise
            if out is None:
                target.seek(0)
                answer.file = target
        else:
            if out is not None:
                write_result(chunks, out, options.format)
            answer = Answer(options.format, scoring.summary, {}, file=None if out is not None else
                            _written(chunks, options.format))
            answer.report = scoring.summary.to_dict()
        answer.model_version = getattr(model, "version", None)
        if shadow is not None and "challenger" not in answer.report:
            answer.report["challenger"] = shadow.report()
        if recorder is not None:
            answer.batch_id = recorder.batch_id
            answer.report["batch_id"] = recorder.batch_id
            recorder.complete(answer.report)
    except BaseException as exc:
        if recorder is not None:
            recorder.fail(_failure_reason(exc))
        if out is None and answer is not None and answer.file is not None:
            answer.file.close()  # written, but never to be answered (the record could not be completed)
        if is_storage_fault(exc):  # the answer's own file, or the input's spool: not the caller's fault
            raise storage_unavailable(exc, recorded=recorder is not None) from None
        raise
    return answer


def _recorded(chunks: Iterator[ScoredChunk], recorder: Recorder | None,
              progress: Callable[[int], None] | None = None) -> Iterator[ScoredChunk]:
    done = 0
    for chunk in chunks:
        if recorder is not None:
            recorder.add(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done)
        yield chunk


def _written(chunks, fmt: str) -> IO[bytes]:
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        write_result(chunks, out, fmt)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _failure_reason(exc: BaseException) -> str:
    """What the record says of a failed batch: the error's code, never its message's data."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else type(exc).__name__


def summary_headers(report: dict, batch_id: str | None = None) -> dict:
    """The headers every CSV, Excel and Parquet answer carries, read from the summary report."""
    headers = {"X-Rows-Total": str(report["rows"]), "X-Rows-Scored": str(report["scored"]),
               "X-Rows-Failed": str(report["failed"]),
               "X-Fairness-Flags": ", ".join(_flagged_attributes(report.get("fairness", {}))) or "none"}
    if "drift" in report:
        headers["X-Drift-Flags"] = ", ".join(report["drift"].get("flagged", [])) or "none"
    if batch_id:
        headers["X-Batch-Id"] = batch_id
    return headers


def _flagged_attributes(fairness: dict) -> list[str]:
    return [attribute for attribute, entry in fairness.items() if entry.get("flagged")]
