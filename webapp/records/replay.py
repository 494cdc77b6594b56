"""Replay: re-score a batch's stored inputs and compare every status, probability (to 1e-12) and
reason with what was recorded. The scoring is the caller's (`score_frame`), so this package needs
no model code."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from webapp.db import Database
from webapp.records import archive
from webapp.records.services import complete_batch

TOLERANCE = 1e-12
ScoreFrame = Callable[[pd.DataFrame], pa.Table]


@dataclass
class ReplayReport:
    batch_id: str
    rows: int = 0
    differences: list[dict] = field(default_factory=list)  # {row, loan_id, field, recorded, replayed}

    @property
    def ok(self) -> bool:
        return not self.differences


def replay(database: Database, batch_id: str, score_frame: ScoreFrame, *, store=None) -> ReplayReport:
    """Re-score the batch's stored inputs; `store`: the records store as configured now."""
    with database.session() as session:
        batch = complete_batch(session, batch_id)
        path, data = batch.archive, batch.archive_data
    recorded = archive.read(archive.locate(path, store, database.url), data)
    if recorded.num_rows == 0:  # nothing was decided, nothing to re-score
        return ReplayReport(batch_id)
    replayed = score_frame(inputs_frame(recorded))
    return compare(batch_id, recorded, replayed)


def inputs_frame(recorded: pa.Table) -> pd.DataFrame:
    """`Loan_ID` and the stored inputs under their contract names."""
    columns = {"Loan_ID": recorded["loan_id"]}
    columns.update({name[len(archive.INPUT_PREFIX):]: recorded[name] for name in recorded.column_names
                    if name.startswith(archive.INPUT_PREFIX)})
    return pa.table(columns).to_pandas()


def compare(batch_id: str, recorded: pa.Table, replayed: pa.Table) -> ReplayReport:
    report = ReplayReport(batch_id, rows=recorded.num_rows)
    if replayed.num_rows != recorded.num_rows:
        report.differences.append({"row": None, "loan_id": None, "field": "rows", "recorded": recorded.num_rows,
                                   "replayed": replayed.num_rows})
        return report
    names = ("row", "loan_id", "status", "probability", "reason_codes", "reason_contributions")
    old = zip(*(recorded[n].to_pylist() for n in names))
    new = zip(*(replayed[n].to_pylist() for n in names))
    for before, after in zip(old, new):
        report.differences += _row_differences(dict(zip(names, before)), dict(zip(names, after)))
    return report


def _row_differences(before: dict, after: dict) -> list[dict]:
    found = []

    def differ(name, a, b):
        found.append({"row": before["row"], "loan_id": before["loan_id"], "field": name, "recorded": a, "replayed": b})

    for name in ("row", "status", "reason_codes"):
        if before[name] != after[name] and not (name == "reason_codes" and not before[name] and not after[name]):
            differ(name, before[name], after[name])
    if not _close(before["probability"], after["probability"]):
        differ("probability", before["probability"], after["probability"])
    a, b = before["reason_contributions"] or [], after["reason_contributions"] or []
    if len(a) != len(b) or not all(_close(x, y) for x, y in zip(a, b)):
        differ("reason_contributions", a, b)
    return found


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE)
