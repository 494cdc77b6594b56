"""Notices from the decision record: a recorded batch's declined and incomplete applications as
notices, rendered to bytes, with the facts its generation event records (never a name or address).

The record holds no names: notices made from it alone have a blank address block (the CSV carries
`Loan_ID` for the lender's mail merge). A caller holding the applicants' names and addresses (the
results page, within its result's 24 hours) passes them as `applicants`. Dates come from the record,
so generating again gives the same bytes."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from webapp.core.reasons import DECLINE, INCOMPLETE
from webapp.notices.content import (DEFAULT_RESPONSE_DAYS, TEMPLATE_VERSION, Applicant, Lender, Notice,
                                    notices_from_decisions)
from webapp.notices.render import render_csv, render_pdf, render_zip
from webapp.records import RecordError, batch_decisions, get_batch

RENDERERS = {"pdf": render_pdf, "zip": render_zip, "csv": render_csv}
MEDIA_TYPES = {"pdf": "application/pdf", "zip": "application/zip", "csv": "text/csv; charset=utf-8"}
EVENT = "notices_generated"


class NotADecisionBatch(RecordError):
    """An analysis batch (a re-scoring, a validation run) decided nothing: it has no notices."""

    status = 409
    code = "not-a-decision-batch"


@dataclass(frozen=True)
class Generated:
    batch_id: str
    fmt: str
    style: str
    data: bytes
    notices: int
    with_addresses: bool  # whether names and addresses were given (never which)
    template_version: str = TEMPLATE_VERSION

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def event_detail(self) -> str:
        """The event's detail: which batch, format, style, template, how many, the bytes' SHA-256."""
        return json.dumps({"batch_id": self.batch_id, "format": self.fmt, "style": self.style,
                           "template_version": self.template_version, "notices": self.notices,
                           "addresses": self.with_addresses, "sha256": self.sha256}, sort_keys=True)


def batch_notices(session: Session, batch_id: str, *, owner: str | None = None,
                  applicants: Mapping[str, Applicant] | None = None,
                  response_days: int = DEFAULT_RESPONSE_DAYS, store=None) -> list[Notice]:
    """One notice per declined or incomplete decision of `batch_id`, in row order. With `owner`, a
    batch someone else ran is `BatchNotFound` (as if it did not exist); an analysis batch is
    `NotADecisionBatch`."""
    fields = get_batch(session, batch_id, owner=owner)
    if fields["purpose"] != "decision":
        raise NotADecisionBatch(f"Batch {batch_id} was run for {fields['purpose']}, not to decide: it has no "
                                "notices.")
    _, decisions = batch_decisions(session, batch_id, (DECLINE, INCOMPLETE), store=store)
    decided = dt.datetime.fromisoformat(fields["created_at"])
    for decision in decisions:
        decision["created_at"] = decided
    return notices_from_decisions(decisions, applicants, response_days=response_days)


def generate(session: Session, batch_id: str, fmt: str, lender: Lender, style: str, *, owner: str | None = None,
             applicants: Mapping[str, Applicant] | None = None,
             response_days: int = DEFAULT_RESPONSE_DAYS, store=None) -> Generated:
    """The batch's notices as `fmt` (pdf, zip or csv) bytes; `store`: the records store (`RECORDS_URL`)."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown notices format {fmt!r}")
    notices = batch_notices(session, batch_id, owner=owner, applicants=applicants, response_days=response_days,
                            store=store)
    data = RENDERERS[fmt](notices, lender, style, TEMPLATE_VERSION)
    return Generated(batch_id, fmt, style, data, len(notices), bool(applicants))
