"""Two exception families, one shape: problems with the input a caller sent (`InputError`, 4xx),
and parts of the service that cannot answer now (`ServiceUnavailable`, 503).

Each carries a stable `code`, an HTTP `status`, a `title`, a message for people and `details` for
machines. The API renders them as RFC 9457 problem+json, the upload page as a message on the form,
the command line as a message and a non-zero exit status.
"""
from __future__ import annotations

import errno


class Problem(Exception):
    """What both families share: the fields of an RFC 9457 problem."""

    status = 400
    code = "problem"
    title = "The request could not be answered"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, **details):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details

    def to_dict(self) -> dict:
        return {"code": self.code, "title": self.title, "status": self.status, "detail": self.message, **self.details}


class InputError(Problem):
    status = 400
    code = "invalid-input"
    title = "The input could not be used"


class EmptyInput(InputError):
    code = "empty-input"
    title = "The input holds no rows"


class UnreadableInput(InputError):
    code = "unreadable-input"
    title = "The input could not be read"


class UnsupportedFormat(InputError):
    status = 415
    code = "unsupported-format"
    title = "The input's format is not supported"


class InputTooLarge(InputError):
    status = 413
    code = "input-too-large"
    title = "The input is larger than this service accepts"


class ContractViolation(InputError):
    status = 422
    code = "contract-violation"
    title = "The input does not follow the input contract"


class MissingColumns(ContractViolation):
    code = "missing-columns"
    title = "Required columns are missing"

    def __init__(self, *, missing: list[str], found: list[str], expected: list[str] | None = None,
                 optional: list[str] | None = None, data_cells: int = 0):
        """`data_cells`: how many of the first row's cells are numbers. With any, that row is an
        application (a file without a header), not names: only the columns recognised in it are
        listed, never its cells, which are an applicant's incomes and attributes."""
        found_text = ", ".join(found[:30]) + (" …" if len(found) > 30 else "") if found else "none"
        found_part = (f"The first row looks like an application, not a header ({data_cells} of its cells are "
                      "numbers), so it is not shown: the first row must name the columns.") if data_cells \
            else f"Found: {found_text}."
        message = f"Missing columns: {', '.join(missing)}. {found_part}"
        super().__init__(
            message,
            missing_columns=missing,
            found_columns=found[:200],
            expected_columns=expected or [],
            optional_columns=optional or [],
            **({"header_looks_like_data": True} if data_cells else {}),
        )


class DuplicateColumns(ContractViolation):
    code = "duplicate-columns"
    title = "Columns appear more than once"


class ExplanationsUnavailable(ContractViolation):
    code = "explanations-unavailable"
    title = "This model cannot explain its decisions"


class RowsFailed(ContractViolation):
    """Raised only when the caller asked for all-or-nothing scoring (`on_error=fail`)."""

    code = "rows-failed"
    title = "Some rows failed validation"


class ServiceUnavailable(Problem):
    """Not the caller's fault: a part the service needs (the model, result storage, the database) is
    missing or failing. Rendered as 503 — problem+json for the API, the error page for the pages, a
    message for the CLI — and never with applicant data in the message."""

    status = 503
    code = "service-unavailable"
    title = "The service cannot answer right now"


class ModelUnavailable(ServiceUnavailable):
    code = "model-unavailable"
    title = "The model is not loaded"


class StorageUnavailable(ServiceUnavailable):
    code = "storage-unavailable"
    title = "Results cannot be stored right now"


class DatabaseUnavailable(ServiceUnavailable):
    code = "database-unavailable"
    title = "The decision record cannot be written right now"


# A disk that cannot take the answer (its temporary file, a stored result, an output) or the input's
# spool: a 503 to try again, never a crash.
STORAGE_FAULTS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE})


def is_storage_fault(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in STORAGE_FAULTS


def fault_reason(exc: OSError) -> str:
    """The kind of fault, never its path: 'no space left on device', 'read-only file system', …"""
    return (exc.strerror or type(exc).__name__).lower()


def storage_unavailable(exc: OSError, *, recorded: bool) -> StorageUnavailable:
    """The 503 for a storage fault: its kind (no path), and whether the batch was marked failed."""
    reason = fault_reason(exc)
    marked = "the batch was marked failed and " if recorded else ""
    return StorageUnavailable(f"The input or the answer cannot be stored right now ({reason}); {marked}nothing "
                              "was answered. Try again later.")
