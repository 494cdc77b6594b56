"""The upload page, results page and model page through the test client."""
import io
import re

import openpyxl
import pandas as pd
import pytest

from tests import factories
from tests.conftest import signed_in_client
from tests.factories import xlsx_bytes
from webapp import create_app


def upload(client, data: bytes, name="applicants.csv", **extra):
    return client.post("/", data={"file": (io.BytesIO(data), name), **extra}, content_type="multipart/form-data")


def csv_of(frame) -> bytes:
    return frame.to_csv(index=False).encode()


def alert_text(response) -> str:
    match = re.search(r'id="form-error"[^>]*>([^<]*)<', response.get_data(as_text=True))
    return match.group(1).strip() if match else ""


def test_index_lists_the_contract_and_the_template(client):
    page = client.get("/").get_data(as_text=True)
    assert "<title>Score a file" in page
    assert "Female, Male" in page and "0, 1, 2, 3+" in page and "Rural, Semiurban, Urban" in page
    assert 'href="/api/v1/template.csv"' in page and 'enctype="multipart/form-data"' in page


def test_upload_redirects_to_an_unguessable_results_page(client):
    frame = factories.applications(60).astype(object)
    frame.loc[4, "Property_Area"] = "Mars"
    response = upload(client, csv_of(frame), "march.csv")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/results/[A-Za-z0-9_-]{43}", location)
    page = client.get(location).get_data(as_text=True)
    assert "march.csv" in page and "<dd>60</dd>" in page and "<dd>59</dd>" in page and "<dd>1</dd>" in page
    assert page.count('class="row-failed"') == 1 and "Property_Area: not one of Rural, Semiurban, Urban" in page
    preview = page[page.index('<table class="preview">'):]
    assert preview.count("<tr") == 1 + 50  # header + the first 50 rows
    assert "<h2>Why rows failed</h2>" in page and "Fair lending check" in page
    assert "<svg" in page and "Approval rate by Property_Area" in page


def test_downloads_csv_and_excel(client):
    frame = factories.applications(12)
    location = upload(client, csv_of(frame), "batch 7.csv").headers["Location"]
    as_csv = client.get(f"{location}/predictions.csv")
    assert as_csv.headers["Content-Disposition"] == 'attachment; filename="batch_7-predictions.csv"'
    assert pd.read_csv(io.BytesIO(as_csv.data))["Loan_ID"].tolist() == frame["Loan_ID"].tolist()
    as_xlsx = client.get(f"{location}/predictions.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.data)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("Loan_ID", "Loan_Status", "Approval_Probability") and len(rows) == 13
    assert isinstance(rows[1][2], float)
    for answer in (as_csv, as_xlsx):  # which batch of the decision record they are, as the API's answers say
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Batch-Id"])
        assert (answer.headers["X-Rows-Total"], answer.headers["X-Rows-Failed"]) == ("12", "0")
    assert as_csv.headers["X-Batch-Id"] == as_xlsx.headers["X-Batch-Id"]


def test_excel_upload(client):
    response = upload(client, xlsx_bytes(factories.applications(7)), "book.xlsx")
    assert response.status_code == 303
    assert "<dd>7</dd>" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_raw_upload_is_not_kept(client, app, tmp_path):
    upload(client, csv_of(factories.applications(3)))
    stored = sorted(p.suffix for p in (tmp_path / "uploads").iterdir())
    assert stored == [".batch", ".csv", ".json"]  # the result, its summary and its batch's link, nothing else


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"Loan_ID,Gender\nA,Male\n", "a.csv", "Missing columns: Education"),
    (b"", "a.csv", "The file is empty."),
    (b"\x89PNG\r\n\x1a\n" + bytes(50), "a.csv", "looks like a PNG image"),
    (b"Loan_ID\n", "a.txt", "Upload a file ending in .csv, .xlsx, .xlsm, .xlsb, .xls, .ods, .parquet."),
])
def test_whole_file_errors_come_back_on_the_form(client, data, name, message):
    response = upload(client, data, name)
    assert 400 <= response.status_code < 500
    assert message in alert_text(response)
    assert 'id="file"' in response.get_data(as_text=True)  # the form, ready for another try


def test_no_file_chosen(client):
    response = client.post("/", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and alert_text(response) == "Choose a CSV or spreadsheet file."


def test_script_uploads_get_json(client):
    ok = client.post("/", data={"file": (io.BytesIO(csv_of(factories.applications(2))), "a.csv")},
                     headers={"Accept": "application/json"})
    assert ok.json["redirect"].startswith("/results/")
    bad = client.post("/", data={"file": (io.BytesIO(b"x,y\n1,2\n"), "a.csv")}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and bad.json["error"].startswith("Missing columns")


def test_too_large_upload_comes_back_on_the_form(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = upload(client, b"x" * 10_000)
    assert response.status_code == 413 and "larger than" in alert_text(response)


def test_unknown_and_expired_results(client, monkeypatch):
    import time

    assert client.get("/results/" + "a" * 43).status_code == 404
    location = upload(client, csv_of(factories.applications(2))).headers["Location"]
    later = time.time() + 25 * 3600  # past the default 24 h
    monkeypatch.setattr("webapp.storage.results.time.time", lambda: later)
    gone = client.get(location)
    assert gone.status_code == 410 and "expired" in gone.get_data(as_text=True)
    assert client.get(f"{location}/predictions.csv").status_code == 410


def test_another_analysts_results_are_not_found_even_once_expired(app, client, monkeypatch):
    import time

    location = upload(client, csv_of(factories.applications(2))).headers["Location"]
    other, auditor = signed_in_client(app, "other@bank.example"), signed_in_client(app, "audit@bank.example", "auditor")
    assert other.get(location).status_code == 404 and auditor.get(location).status_code == 200
    later = time.time() + 25 * 3600
    monkeypatch.setattr("webapp.storage.results.time.time", lambda: later)
    assert client.get(location).status_code == 410  # its owner learns it expired
    # Whether another's result ever existed is not theirs to learn: the tombstone keeps its owner.
    assert other.get(location).status_code == 404 and other.get(f"{location}/predictions.csv").status_code == 404
    assert auditor.get(location).status_code == 410


def test_model_page(client, loaded_model):
    page = client.get("/model").get_data(as_text=True)
    assert loaded_model.version in page and "ROC AUC" in page and "Credit_History" in page


def test_csrf_is_enforced_with_a_message_on_the_form(model_path, tmp_path):
    from tests.conftest import signed_in_client

    app = create_app({"TESTING": True, "SECRET_KEY": "csrf-test", "MODEL_PATH": str(model_path),
                      "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    client = signed_in_client(app)
    refused = upload(client, csv_of(factories.applications(2)))
    assert refused.status_code == 400 and "expired" in alert_text(refused)
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    accepted = upload(client, csv_of(factories.applications(2)), csrf_token=token)
    assert accepted.status_code == 303


def test_explanations_are_offered_and_on_by_default(client):
    page = client.get("/").get_data(as_text=True)
    assert 'id="explain"' in page and re.search(r'<input checked id="explain"|<input[^>]*id="explain"[^>]*checked', page)


def test_explained_results_show_decline_reasons(client):
    frame = factories.applications(30, seed=6)
    frame.loc[0:5, "Credit_History"] = 0.0
    response = client.post("/", data={"file": (io.BytesIO(frame.to_csv(index=False).encode()), "d.csv"),
                                      "explain": "y"}, content_type="multipart/form-data")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Why applications were declined" in page and "Credit history does not meet guidelines" in page
    assert page.count('<ol class="reasons">') >= 6


def test_parquet_and_spreadsheets_upload_through_the_page(client):
    for name, data in (("part.parquet", factories.parquet_bytes(factories.applications(4))),
                       ("calc.ods", factories.ods_bytes(factories.applications(4))),
                       ("old.xls", factories.xls_bytes(factories.applications(4)))):
        response = client.post("/", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
        assert response.status_code == 303, (name, response.get_data(as_text=True)[:500])


def test_a_csrf_refusal_is_logged_with_a_request_id(model_path, tmp_path, caplog):
    app = create_app({"TESTING": True, "SECRET_KEY": "csrf-test", "MODEL_PATH": str(model_path),
                      "UPLOAD_FOLDER": str(tmp_path)})
    with caplog.at_level("INFO", logger="webapp.requests"):
        refused = upload(app.test_client(), csv_of(factories.applications(2)))
    assert refused.status_code == 400
    line = next(r.getMessage() for r in caplog.records if r.name == "webapp.requests")
    assert "request_id=None" not in line and f"request_id={refused.headers['X-Request-ID']}" in line


def test_an_upload_may_be_recorded_for_analysis_rather_than_decision(client, app):
    from sqlalchemy import select

    from webapp.records.models import Batch

    assert 'name="purpose"' in client.get("/").get_data(as_text=True)
    upload(client, csv_of(factories.applications(4)), purpose="analysis")
    upload(client, csv_of(factories.applications(4)))
    with app.extensions["database"].session() as session:
        purposes = session.scalars(select(Batch.purpose).order_by(Batch.created_at)).all()
    assert purposes == ["analysis", "decision"]
