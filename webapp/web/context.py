"""What a request works with, from the app: the model, the limits, the result store, the database.
One accessor each, so every view has the same behaviour when one is missing."""
from __future__ import annotations

from flask import current_app

from webapp.core.limits import Limits
from webapp.storage import ResultStore


def model():
    """The loaded model, or ModelUnavailable (503) — the same for the API, the pages and the CLI."""
    return current_app.extensions["models"].current()


def challenger(champion):
    """The shadow challenger to score beside `champion` in this request, or None."""
    return current_app.extensions["models"].challenger(champion)


def model_versions() -> tuple[list[dict], list[dict]]:
    """The registry's versions (with their validation reports) and alias history, newest first; empty
    when the registry cannot be read (the page still shows the served model's card)."""
    registry = current_app.extensions.get("model_registry")
    try:
        return list(reversed(registry.versions())), list(reversed(registry.history()))
    except Exception:  # noqa: BLE001 - the registry's database is down: the card alone is still worth showing
        current_app.logger.warning("model registry unavailable for the model page", exc_info=True)
        return [], []


def model_or_none():
    return current_app.extensions["models"].current_or_none()


def model_error() -> str | None:
    return current_app.extensions["models"].error


def limits() -> Limits:
    return current_app.extensions["limits"]


def results() -> ResultStore:
    return current_app.extensions["results"]


def records_store() -> str:
    """Where the decision archives go: `RECORDS_URL`, else `instance/records`."""
    from webapp.service.recording import records_store as store_for

    return store_for(current_app.config, current_app.instance_path)


def recording(channel: str, options, model, source, name: str):
    """The decision record of one batch scored now through `channel`, by whoever is asking."""
    from webapp.service import BatchRecording, Caller, InputFile
    from webapp.web import auth

    caller = Caller(auth.current_actor() or "anonymous", channel)
    queue = current_app.extensions.get("jobs")  # a large batch's index is written by the jobs worker
    return BatchRecording(current_app.extensions["database"], records_store(), caller, options, model,
                          InputFile.of(source, name), index_elsewhere=queue.index_batch if queue else None)
