"""Notices over HTTP, from a real scored and recorded batch: one per declined or incomplete row, the
same bytes every time, scoped to the batch's owner, each generation an event — and the applicants'
names and addresses only ever in the page's own notices, never in the record or the logs."""
import csv
import io
import json
import logging
import zipfile

import pytest

from tests import factories
from tests.conftest import signed_in_client
from tests.notices.helpers import flowing, pdf_text
from webapp.core.reasons import MATERIAL_MINIMUM, MISSING, REASONS_BY_CODE
from webapp.notices.content import ECOA_NOTICE
from webapp.records import batch_decisions
from webapp.records.models import Batch

NAME, ADDRESS = "Zdenka Quillfeather", "17 Larkspur Lane; Springfield, IL 62704"


def score(client, frame, query=""):
    answer = client.post(f"/api/v1/score{query}", data=frame.to_csv(index=False), content_type="text/csv")
    assert answer.status_code == 200, answer.data[:300]
    return answer.headers["X-Batch-Id"]


def recorded(app, batch_id):
    with app.extensions["database"].session() as session:
        return batch_decisions(session, batch_id)[1]


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


@pytest.fixture
def batch(app, client):
    return score(client, factories.applications(200, seed=3))


def test_one_notice_per_declined_or_incomplete_row_and_none_for_approved(app, client, batch):
    decisions = recorded(app, batch)
    adverse = [d["loan_id"] for d in decisions if d["action"] in ("decline", "incomplete")]
    approved = {d["loan_id"] for d in decisions if d["action"] == "approve"}
    assert adverse and approved
    answer = client.get(f"/api/v1/batches/{batch}/notices.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = csv_rows(answer.data)
    assert [r["Loan_ID"] for r in rows] == adverse and not approved & {r["Loan_ID"] for r in rows}
    assert answer.headers["X-Notices"] == str(len(adverse))
    assert all(not r["Applicant_Name"] and not r["Applicant_Address"] for r in rows)  # the record has no names
    entries = zipfile.ZipFile(io.BytesIO(client.get(f"/api/v1/batches/{batch}/notices.zip").data)).namelist()
    assert entries == [f"{loan_id}.pdf" for loan_id in adverse]


def test_every_recorded_action_is_there_and_every_stated_reason_material_and_not_missing(app, batch):
    decisions = recorded(app, batch)
    assert {d["action"] for d in decisions} <= {"approve", "decline", "incomplete", None}
    declines = [d for d in decisions if d["action"] == "decline"]
    assert declines
    for d in declines:
        assert len(d["reasons"]) <= 4
        for reason in d["reasons"]:
            assert REASONS_BY_CODE[reason["code"]].way != MISSING
            assert reason["contribution"] <= -MATERIAL_MINIMUM


def test_the_pdf_has_a_page_per_notice_and_the_ecoa_text(app, client, batch, tmp_path):
    answer = client.get(f"/api/v1/batches/{batch}/notices.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    text = pdf_text(answer.data, tmp_path)
    assert ECOA_NOTICE.split("{agency}")[0].strip() in flowing(text)
    assert text.count("Re: your application for credit") == int(answer.headers["X-Notices"])


def test_generating_again_gives_the_same_bytes(client, batch):
    for fmt in ("pdf", "zip", "csv"):
        first, second = (client.get(f"/api/v1/batches/{batch}/notices.{fmt}") for _ in range(2))
        assert first.data == second.data and first.headers["X-Content-SHA256"] == second.headers["X-Content-SHA256"]


def test_the_right_to_request_variant_names_no_reasons(app, client, batch, tmp_path):
    app.config["NOTICE_STYLE"] = "right-to-request"
    text = flowing(pdf_text(client.get(f"/api/v1/batches/{batch}/notices.pdf").data, tmp_path))
    assert "statement of specific reasons" in text and "Principal reason" not in text
    stated = {r["code"] for d in recorded(app, batch) if d["action"] == "decline" for r in d["reasons"]}
    assert stated and not any(REASONS_BY_CODE[code].text in text for code in stated)


def test_each_generation_is_an_event_without_names(app, client, batch):
    answer = client.get(f"/api/v1/batches/{batch}/notices.pdf")
    events = signed_in_client(app, "admin@bank.example", "admin").get("/api/v1/events").json["events"]
    event = next(e for e in events if e["action"] == "notices_generated")
    detail = json.loads(event["detail"])
    assert event["actor"] == "analyst@bank.example"
    assert detail == {"batch_id": batch, "format": "pdf", "style": "principal-reasons", "notices":
                      int(answer.headers["X-Notices"]), "template_version": detail["template_version"],
                      "addresses": False, "sha256": answer.headers["X-Content-SHA256"]}


def test_another_analysts_batch_is_not_found_and_an_auditor_sees_it(app, batch):
    other = signed_in_client(app, "other@bank.example", "analyst").get(f"/api/v1/batches/{batch}/notices.pdf")
    assert other.status_code == 404 and other.mimetype == "application/problem+json"
    assert signed_in_client(app, "auditor@bank.example", "auditor").get(
        f"/api/v1/batches/{batch}/notices.csv").status_code == 200


def test_an_analysis_batch_has_no_notices(client):
    batch = score(client, factories.applications(20), "?purpose=analysis")
    answer = client.get(f"/api/v1/batches/{batch}/notices.pdf")
    assert answer.status_code == 409 and answer.json["code"] == "not-a-decision-batch"


def test_unknown_batch_and_format(client):
    assert client.get("/api/v1/batches/nope/notices.pdf").status_code == 404
    assert client.get("/api/v1/batches/nope/notices.docx").status_code == 404


def test_the_batch_page_link_downloads_the_notices(client, batch):
    answer = client.get(f"/batches/{batch}/notices.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"


def with_names(n=60):
    frame = factories.applications(n, seed=5)
    frame["Applicant_Name"] = [f"{NAME} {i}" for i in range(n)]
    frame["Applicant_Address"] = ADDRESS
    return frame


def test_names_address_the_results_pages_notices_and_go_nowhere_else(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    page = client.post("/", data={"file": (io.BytesIO(with_names().to_csv(index=False).encode()), "named.csv")},
                       content_type="multipart/form-data")
    assert page.status_code == 303
    token = page.headers["Location"].rsplit("/", 1)[-1]
    rows = csv_rows(client.get(f"/results/{token}/notices.csv").data)
    assert rows and all(r["Applicant_Name"].startswith(NAME) and r["Applicant_Address"] == ADDRESS for r in rows)
    # the record: no such column, no such text; the notices from it are blank-addressed
    result = app.extensions["results"].get(token)
    batch = result.meta["summary"]["batch_id"]
    with app.extensions["database"].session() as session:
        stored = session.get(Batch, batch)
        from webapp.records import archive
        table = archive.read(stored.archive, stored.archive_data)
    assert "action" in table.column_names
    assert not [c for c in table.column_names if "applicant_name" in c.lower() or "address" in c.lower()]
    assert NAME not in str(table.to_pylist())
    assert all(not r["Applicant_Name"] for r in csv_rows(client.get(f"/api/v1/batches/{batch}/notices.csv").data))
    # the answer shows them only when the caller asked for its own input back
    assert NAME not in client.get(f"/results/{token}/predictions.csv").data.decode()
    assert NAME not in client.post("/api/v1/score?format=json", data=with_names().to_csv(index=False),
                                   content_type="text/csv").data.decode()
    assert NAME not in caplog.text and "Larkspur" not in caplog.text
    events = signed_in_client(app, "admin@bank.example", "admin").get("/api/v1/events").json["events"]
    generated = [json.loads(e["detail"]) for e in events if e["action"] == "notices_generated"]
    assert NAME not in json.dumps(events) and [g["addresses"] for g in generated] == [False, True]


def test_the_applicants_file_goes_with_the_result(app, client):
    page = client.post("/", data={"file": (io.BytesIO(with_names(5).to_csv(index=False).encode()), "named.csv")},
                       content_type="multipart/form-data")
    token = page.headers["Location"].rsplit("/", 1)[-1]
    store = app.extensions["results"]
    assert store.attached(store.get(token), "applicants.json")
    store._expire(token, store._meta(token))
    assert not (store.folder / f"{token}.applicants.json").exists()


def test_the_command_writes_all_three(app, client, batch, tmp_path):
    result = app.test_cli_runner().invoke(args=["records", "notices", batch, "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert set(written) == {"notices.pdf", "notices.zip", "notices.csv"}
    assert written["notices.csv"] == client.get(f"/api/v1/batches/{batch}/notices.csv").data
