"""Replay's scorer: a batch's stored inputs scored again through the core exactly as the service
scores an upload, by the model version the batch recorded (`registry.load`), with the batch's own
explanation options — so a replay tells a changed decision from a changed model.

`RecordedScorer` is what `app.extensions["score_frame"]` holds for `flask records replay`."""
from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webapp.records import archive
from webapp.records.services import RecordError, complete_batch
from webapp.service.options import ScoringOptions
from webapp.service.recording import decision_rows
from webapp.service.scoring import open_scoring

ScoreFrame = Callable[[pd.DataFrame], pa.Table]


def score_frame_for(model, options: ScoringOptions | None = None, refused=None) -> ScoreFrame:
    """Score a frame of stored inputs (`Loan_ID` and the contract's input names) with `model` and
    give back the record's decision columns (`recording.decision_rows`).

    `refused`: the rows the record says failed validation (a boolean per row). The record keeps the
    inputs as the model used them, so a refused value (an income of "lots") is stored as missing and
    could score now; those rows are answered as failed again instead of being re-scored."""
    options = options or ScoringOptions()

    def score_frame(frame: pd.DataFrame) -> pa.Table:
        # Parquet keeps the stored floats and missing values exactly as recorded (a CSV would not).
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
        scoring = open_scoring(sink.getvalue(), model, options)
        tables = [archive.normalise(decision_rows(chunk)) for chunk in scoring.chunks()]  # as the record stores them
        table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
        return _refused_again(table, refused) if refused is not None and len(refused) == table.num_rows else table

    return score_frame


def _refused_again(table: pa.Table, refused) -> pa.Table:
    keep = pa.array(~np.asarray(refused, dtype=bool))
    for name, empty in (("status", None), ("probability", None), ("error", None),
                        ("reason_codes", []), ("reason_contributions", [])):
        column = table[name]
        blank = pa.array([empty] * table.num_rows, column.type)
        table = table.set_column(table.schema.get_field_index(name), name, pc.if_else(keep, column, blank))
    return table


class ModelNotAvailable(RecordError):
    status = 409
    code = "model-version-unavailable"


class RecordedScorer:
    """Called with a frame: the current champion. `for_batch`: the version the batch recorded."""

    def __init__(self, database, models, store=None):
        self.database, self.models = database, models  # a version not served now comes from the models' registry
        self.store = store  # the records store: batch rows name their archives relative to it

    def __call__(self, frame: pd.DataFrame) -> pa.Table:
        return score_frame_for(self.models.current())(frame)

    def for_batch(self, batch_id: str) -> ScoreFrame:
        with self.database.session() as session:
            batch = complete_batch(session, batch_id)
            version, recorded = batch.model_version, json.loads(batch.options or "{}")
            decided_by = (batch.model_sha256, float(batch.threshold))
            location, data = archive.locate(batch.archive, self.store, self.database.url), batch.archive_data
        options = ScoringOptions(explain=bool(recorded.get("explain")),
                                 reasons_for=recorded.get("reasons_for") or "declined")
        refused = None
        if location is not None or data is not None:
            refused = archive.read(location, data)["error"].is_valid().to_numpy(zero_copy_only=False)
        return score_frame_for(self._model(version, decided_by), options, refused)

    def _model(self, version: str, decided_by: tuple[str, float]):
        from webapp.core.errors import ModelUnavailable

        try:
            model = self.models.version(version)  # the champion, the challenger or the registry's, loaded once
        except ModelUnavailable as exc:
            raise ModelNotAvailable(f"{exc.message} (the version the batch was decided by).") from None
        sha256, threshold = decided_by
        if (sha256 and model.artifact_sha256 != sha256) or float(model.threshold) != threshold:
            # A version's name reused for another artifact or threshold would "replay" other decisions.
            raise ModelNotAvailable(f"Model version {version} is not the one the batch recorded (its artifact's "
                                    "SHA-256 or its threshold differs); nothing was replayed.")
        return model
