"""Notices from decision records: one per declined or incomplete application, none for approved ones;
declines state their material reasons, incomplete applications what is missing and by when."""
import datetime as dt
import logging

import pytest

from tests.notices.helpers import DECIDED, LENDER, decision
from webapp.core.reasons import REASONS_BY_CODE
from webapp.notices.content import (
    ECOA_NOTICE,
    MISSING_ITEMS,
    PRINCIPAL_REASONS,
    RIGHT_TO_REQUEST,
    Applicant,
    Lender,
    Notice,
    ecoa_notice,
    letter,
    notices_from_decisions,
)

RECORDS = [decision("LP1", "decline", ["CREDIT_HISTORY", "INCOME_INSUFFICIENT"]),
           decision("LP2", "approve"),
           decision("LP3", "incomplete", ["CREDIT_HISTORY_MISSING"], inputs={"LoanAmount": None, "Education": "x"}),
           {**decision("LP4", None), "status": "failed"}]


def test_one_notice_per_declined_or_incomplete_application_and_none_for_the_others():
    notices = notices_from_decisions(RECORDS)
    assert [(n.loan_id, n.action) for n in notices] == [("LP1", "decline"), ("LP3", "incomplete")]


def test_a_decline_states_its_reasons_with_their_hmda_codes_on_the_decision_date():
    decline = notices_from_decisions(RECORDS)[0]
    assert decline.reasons == (("CREDIT_HISTORY", REASONS_BY_CODE["CREDIT_HISTORY"].text),
                               ("INCOME_INSUFFICIENT", REASONS_BY_CODE["INCOME_INSUFFICIENT"].text))
    assert decline.hmda_denial_reasons == (3, 1) and decline.decided_at == DECIDED.date()


def test_a_decline_never_states_missing_information_even_if_the_record_carries_it():
    [notice] = notices_from_decisions([decision("LP1", "decline", ["INCOME_MISSING", "CREDIT_HISTORY"])])
    assert [code for code, _ in notice.reasons] == ["CREDIT_HISTORY"]


def test_an_incomplete_application_names_what_is_missing_and_the_date_to_supply_it():
    notice = notices_from_decisions(RECORDS, response_days=21)[1]
    assert notice.missing == (MISSING_ITEMS["Credit_History"], MISSING_ITEMS["LoanAmount"])
    assert notice.respond_by == DECIDED.date() + dt.timedelta(days=21) and notice.reasons == ()
    assert notice.hmda_denial_reasons == (7,)  # credit application incomplete


def test_the_applicant_comes_from_the_optional_name_and_address_and_stays_out_of_repr():
    applicants = {"LP1": Applicant("Jane Roe", "1 Elm Road; Springfield, IL 62702")}
    notice = notices_from_decisions(RECORDS, applicants)[0]
    assert notice.applicant_name == "Jane Roe" and "Jane" not in repr(notice) and "Elm" not in repr(notice)
    assert notices_from_decisions(RECORDS, applicants)[1].applicant_name is None


def test_the_ecoa_notice_is_the_regulation_s_text_with_the_lender_s_agency():
    assert ecoa_notice(LENDER) == (
        "The Federal Equal Credit Opportunity Act prohibits creditors from discriminating against credit applicants "
        "on the basis of race, color, religion, national origin, sex, marital status, age (provided the applicant "
        "has the capacity to enter into a binding contract); because all or part of the applicant's income derives "
        "from any public assistance program; or because the applicant has in good faith exercised any right under "
        "the Consumer Credit Protection Act. The Federal agency that administers compliance with this law "
        "concerning this creditor is Federal Trade Commission, Equal Credit Opportunity, Washington, DC 20580.")
    assert ECOA_NOTICE.count("{agency}") == 1


def texts_of(blocks):
    return " ".join(str(payload) for _, payload in blocks)


def test_the_right_to_request_letter_names_no_reasons_and_says_whom_to_ask_within_60_days():
    notice = notices_from_decisions(RECORDS)[0]
    text = texts_of(letter(notice, LENDER, RIGHT_TO_REQUEST))
    assert not any(reason in text for _, reason in notice.reasons)
    assert "within 60 days" in text and LENDER.contact in text
    assert all(reason in texts_of(letter(notice, LENDER, PRINCIPAL_REASONS)) for _, reason in notice.reasons)


def test_an_unknown_style_is_refused():
    with pytest.raises(ValueError, match="right-to-request"):
        letter(Notice("LP1", "decline", DECIDED.date()), LENDER, "C-9")


def test_the_lender_comes_from_the_settings():
    lender = Lender.from_config({"LENDER_NAME": "Bank", "LENDER_ADDRESS": "1 Main St; Town", "LENDER_CONTACT": "us",
                                 "LENDER_AGENCY": "CFPB; 1700 G Street NW; Washington, DC 20552"})
    assert lender.address == ("1 Main St", "Town") and lender.agency[0] == "CFPB"


def test_names_and_addresses_are_never_logged(caplog):
    from webapp.notices.render import render_csv, render_pdf, render_zip

    caplog.set_level(logging.DEBUG)
    notices = notices_from_decisions(RECORDS, {"LP1": Applicant("Jane Roe", "1 Elm Road")})
    for render in (render_pdf, render_zip, render_csv):
        render(notices, LENDER, PRINCIPAL_REASONS, "t1")
    assert "Jane" not in caplog.text and "Elm" not in caplog.text
