"""Notices as plain data, their wording, and the builder that makes them from decision records.

The wording follows Appendix C of Regulation B: form C-1 (statement of principal reasons), C-5 (the
right to request the reasons within 60 days) for declines, and C-4 (notice of incomplete application,
1002.9(c)(2)) for applications missing what a decision needs. Every letter carries the ECOA notice
of 1002.9(b)(1) exactly as the regulation gives it. A letter is a list of blocks (a paragraph, lines,
a list), so the PDF renderer and the tests read the same text.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from webapp.core.contract import DECISION_FEATURES
from webapp.core.reasons import DECLINE, INCOMPLETE, MAX_REASONS, MISSING, REASONS_BY_CODE

PRINCIPAL_REASONS, RIGHT_TO_REQUEST = "principal-reasons", "right-to-request"  # forms C-1 and C-5
STYLES = (PRINCIPAL_REASONS, RIGHT_TO_REQUEST)
REQUEST_DAYS = 60  # 1002.9(a)(2)(ii): the applicant may ask for the reasons within 60 days
DEFAULT_RESPONSE_DAYS = 30  # the period given to supply missing information (1002.9(c)(2))
TEMPLATE_VERSION = "regb-2026.1"  # change it whenever the wording or layout changes: events name it

# 12 CFR 1002.9(b)(1), word for word; the bracket is the agency's name and address from Appendix A.
ECOA_NOTICE = (
    "The Federal Equal Credit Opportunity Act prohibits creditors from discriminating against credit applicants "
    "on the basis of race, color, religion, national origin, sex, marital status, age (provided the applicant has "
    "the capacity to enter into a binding contract); because all or part of the applicant's income derives from "
    "any public assistance program; or because the applicant has in good faith exercised any right under the "
    "Consumer Credit Protection Act. The Federal agency that administers compliance with this law concerning this "
    "creditor is {agency}."
)

# What a notice of incompleteness asks for, per decision feature.
MISSING_ITEMS = {
    "Credit_History": "Your credit history (whether your credit history meets guidelines)",
    "ApplicantIncome": "Your income",
    "CoapplicantIncome": "The co-applicant's income (0 if there is none)",
    "LoanAmount": "The loan amount requested",
    "Loan_Amount_Term": "The loan term, in months",
    "Education": "Your education (graduate or not)",
    "Self_Employed": "Your type of employment (self-employed or employed)",
    "Property_Area": "The location of the property (urban, semiurban or rural)",
}


@dataclass(frozen=True)
class Lender:
    name: str
    address: tuple[str, ...]
    contact: str  # whom to ask: office, address or telephone
    agency: tuple[str, ...]  # the federal agency's name and address (Appendix A)

    @classmethod
    def from_config(cls, config: Mapping) -> Lender:
        """From LENDER_NAME, LENDER_ADDRESS, LENDER_CONTACT, LENDER_AGENCY (address lines split at `;`)."""
        return cls(name=config["LENDER_NAME"], address=_lines(config["LENDER_ADDRESS"]),
                   contact=config["LENDER_CONTACT"], agency=_lines(config["LENDER_AGENCY"]))


def _lines(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(text).split(";") if part.strip())


@dataclass(frozen=True)
class Notice:
    """One applicant's notice. Name and address are personal data: kept out of repr (so out of logs)."""

    loan_id: str
    action: str  # DECLINE or INCOMPLETE
    decided_at: dt.date
    reasons: tuple[tuple[str, str], ...] = ()  # (code, text), most damaging first
    hmda_denial_reasons: tuple[int, ...] = ()
    missing: tuple[str, ...] = ()  # for INCOMPLETE: what the applicant must supply
    respond_by: dt.date | None = None  # for INCOMPLETE: the date to supply it by
    applicant_name: str | None = field(default=None, repr=False)
    applicant_address: str | None = field(default=None, repr=False)


class Applicant(NamedTuple):
    name: str | None
    address: str | None

    def __repr__(self) -> str:  # never the name or address: a traceback or error tracker may show it
        return f"Applicant(name={'…' if self.name else None}, address={'…' if self.address else None})"


def notices_from_decisions(decisions: Iterable[Mapping], applicants: Mapping[str, Applicant] | None = None, *,
                           response_days: int = DEFAULT_RESPONSE_DAYS) -> list[Notice]:
    """One notice per declined or incomplete decision, in the records' order; none for the others.

    A decision is `{"loan_id", "created_at" (datetime), "status", "action", "reasons": [{"code",
    "contribution"}], "inputs": {...}}`; `applicants` maps a Loan_ID to its optional name and address."""
    applicants = applicants or {}
    notices = []
    for decision in decisions:
        action = decision.get("action")
        if action not in (DECLINE, INCOMPLETE):
            continue
        decided = _date(decision["created_at"])
        applicant = applicants.get(decision["loan_id"]) or Applicant(None, None)
        codes = [r["code"] for r in decision.get("reasons") or [] if r["code"] in REASONS_BY_CODE]
        missing_codes = [c for c in codes if REASONS_BY_CODE[c].way == MISSING]
        common = dict(loan_id=str(decision["loan_id"]), action=action, decided_at=decided,
                      applicant_name=applicant.name or None, applicant_address=applicant.address or None)
        if action == INCOMPLETE:
            features = _ordered_missing(missing_codes, decision.get("inputs") or {})
            notices.append(Notice(**common, missing=tuple(MISSING_ITEMS.get(f, f) for f in features),
                                  hmda_denial_reasons=(REASONS_BY_CODE[missing_codes[0]].hmda_denial_reason,)
                                  if missing_codes else (7,),
                                  respond_by=decided + dt.timedelta(days=response_days)))
        else:  # a decline states its material non-missing factors only (webapp.core.reasons)
            stated = [c for c in codes if c not in missing_codes][:MAX_REASONS]
            notices.append(Notice(**common, reasons=tuple((c, REASONS_BY_CODE[c].text) for c in stated),
                                  hmda_denial_reasons=_unique(REASONS_BY_CODE[c].hmda_denial_reason for c in stated)))
    return notices


def _date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _ordered_missing(missing_codes: list[str], inputs: Mapping) -> list[str]:
    """The missing features: those the reasons name (most damaging first), then any other left empty."""
    named = [REASONS_BY_CODE[c].feature for c in missing_codes]
    empty = [f for f in DECISION_FEATURES if f in inputs and _is_empty(inputs[f])]
    return _unique([*named, *empty])


def _is_empty(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _unique(items) -> tuple:
    return tuple(dict.fromkeys(items))


# --- the letters -------------------------------------------------------------------------------------
# A block: ("lines", [...]) printed as is; ("para", text) wrapped; ("bold", text); ("list", [...]); ("gap", "").

def letter(notice: Notice, lender: Lender, style: str) -> list[tuple[str, object]]:
    """The notice's text as blocks, top to bottom."""
    if style not in STYLES:
        raise ValueError(f"unknown notice style {style!r}; choose one of {', '.join(STYLES)}")
    head = [("bold", lender.name), ("lines", list(lender.address)), ("gap", ""),
            ("lines", [long_date(notice.decided_at)]), ("gap", ""),
            ("lines", _applicant_block(notice)), ("gap", ""),
            ("bold", f"Re: your application for credit, reference {notice.loan_id}"), ("gap", ""),
            ("para", f"Dear {notice.applicant_name or 'Applicant'}:")]
    if notice.action == INCOMPLETE:
        body = _incomplete(notice, lender)
    elif style == RIGHT_TO_REQUEST:
        body = _right_to_request(lender)
    else:
        body = _principal_reasons(notice, lender)
    return [*head, *body, ("gap", ""), ("bold", "Notice"), ("para", ecoa_notice(lender)), ("gap", ""),
            ("para", "Sincerely,"), ("lines", [lender.name])]


def ecoa_notice(lender: Lender) -> str:
    return ECOA_NOTICE.format(agency=", ".join(lender.agency))


def long_date(day: dt.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def _applicant_block(notice: Notice) -> list[str]:
    if not notice.applicant_name and not notice.applicant_address:
        return [""] * 4  # left blank for the lender's mail merge or a window envelope
    return [notice.applicant_name or "", *_lines(notice.applicant_address or "")]


def _principal_reasons(notice: Notice, lender: Lender) -> list:
    reasons = [text for _, text in notice.reasons]
    return [("para", "Thank you for your recent application. Your request for credit was carefully considered, "
                     "and we regret that we are unable to approve your application at this time."),
            ("gap", ""), ("bold", "Description of action taken: credit denied."),
            ("bold", "Principal reason(s) for credit denial:"),
            ("list", reasons) if reasons else
            ("para", "No single factor in your application lowered our assessment materially; please contact us "
                     "below for a statement of the reasons."),
            ("gap", ""), ("para", f"If you have any questions regarding this notice, please contact: {lender.contact}.")]


def _right_to_request(lender: Lender) -> list:
    return [("para", "Thank you for applying to us for credit. After carefully reviewing your application, we are "
                     "sorry to advise you that we cannot grant a loan to you at this time."),
            ("gap", ""), ("bold", "Description of action taken: credit denied."), ("gap", ""),
            ("para", "If you would like a statement of specific reasons why your application was denied, please "
                     f"contact {lender.contact} within {REQUEST_DAYS} days of the date of this letter. We will "
                     "provide you with the statement of reasons within 30 days after receiving your request."),
            ("para", "If we provide reasons orally, you have the right to have them confirmed in writing within "
                     "30 days of receiving your written request for confirmation.")]


def _incomplete(notice: Notice, lender: Lender) -> list:
    respond_by = notice.respond_by or notice.decided_at + dt.timedelta(days=DEFAULT_RESPONSE_DAYS)
    return [("para", "Thank you for your application for credit. The following information is needed to make a "
                     "decision on your application:"),
            ("list", list(notice.missing)),
            ("para", f"We need to receive this information by {long_date(respond_by)}. If we do not "
                     "receive it by that date, we will regrettably be unable to give further consideration to "
                     "your credit request."),
            ("gap", ""), ("para", f"Please send it to, or ask any question of: {lender.contact}.")]
