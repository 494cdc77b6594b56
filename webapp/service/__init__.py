"""The scoring service: the one door through which every entry point — the API, the upload page,
the CLI, the engines and the jobs worker — scores an input. It takes the input and one frozen
`ScoringOptions` (parsed once at each edge) and gives back the answer and one summary report,
recording the batch when a recorder is given.

May import: the standard library, numpy, pandas, pyarrow, pydantic, and `webapp.core`, `webapp.model`,
`webapp.stats`, `webapp.storage`, `webapp.records`, `webapp.registry`, `webapp.db`. Never Flask or the
web layer, the engines or the jobs (they call this, not the other way round).
"""
from webapp.service.models import ModelProvider
from webapp.service.options import FORMATS, ScoreQuery, ScoringOptions
from webapp.service.recording import BatchRecording, Caller, InputFile
from webapp.service.scoring import SPOOL_BYTES, Answer, Recorder, open_scoring, score_input, summary_headers

__all__ = ["BatchRecording", "Caller", "InputFile", "FORMATS", "SPOOL_BYTES", "Answer", "ModelProvider", "Recorder", "ScoreQuery", "ScoringOptions",
           "open_scoring", "score_input", "summary_headers"]
