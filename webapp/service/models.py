"""The loaded model, behind one accessor: every caller asks `ModelProvider.current()` and gets the
model or `ModelUnavailable` — one behaviour when there is none (503 in the API, the error page in
the UI, a message in the CLI). Each model version is loaded once per process, never per request."""
from __future__ import annotations

from webapp.core.errors import ModelUnavailable


class ModelProvider:
    def __init__(self, model=None, error: str | None = None):
        self._model = model
        self.error = None if model is not None else (error or "No model is loaded.")

    @classmethod
    def load(cls, path) -> "ModelProvider":
        from webapp.model.loading import ModelLoadError, load_model

        try:
            return cls(load_model(path))
        except ModelLoadError as exc:
            return cls(None, str(exc))

    def current(self):
        if self._model is None:
            raise ModelUnavailable(self.error)
        return self._model

    def current_or_none(self):
        return self._model
