"""POST /api/v1/score and the documents that describe the API."""
import io
import json
import math
import re

import openpyxl
import pandas as pd
import pytest

from tests import factories
from tests.factories import xlsx_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def good_frame(n=5, seed=0):
    return factories.applications(n, seed=seed)


def records(frame):
    return json.loads(frame.to_json(orient="records"))


def multipart(data: bytes, name="applicants.csv"):
    return {"data": {"file": (io.BytesIO(data), name)}, "content_type": "multipart/form-data"}


def read_csv_answer(response):
    return pd.read_csv(io.BytesIO(response.data), dtype=str, keep_default_na=False)


# --- every input shape -------------------------------------------------------------------------

INPUTS = {
    "multipart-csv": lambda f: multipart(f.to_csv(index=False).encode()),
    "multipart-xlsx": lambda f: multipart(xlsx_bytes(f), "applicants.xlsx"),
    "raw-csv": lambda f: {"data": f.to_csv(index=False), "content_type": "text/csv"},
    "raw-xlsx": lambda f: {"data": xlsx_bytes(f), "content_type": XLSX},
    "json-list": lambda f: {"json": records(f)},
    "json-records": lambda f: {"json": {"records": records(f)}},
    "json-dataframe_records": lambda f: {"json": {"dataframe_records": records(f)}},
    "json-dataframe_split": lambda f: {"json": {"dataframe_split": json.loads(f.to_json(orient="split", index=False))}},
    "json-double-encoded": lambda f: {"json": f.to_json(orient="records")},
}


@pytest.mark.parametrize("shape", INPUTS)
def test_every_input_shape_is_scored(client, shape):
    frame = good_frame(6)
    response = client.post("/api/v1/score?format=json", **INPUTS[shape](frame))
    assert response.status_code == 200, response.data
    body = response.json
    assert [p["Loan_ID"] for p in body["predictions"]] == frame["Loan_ID"].tolist()
    assert body["summary"]["rows"] == 6 and body["model"]["name"] == "loan-approval"
    assert all(p["Error"] is None and 0 <= p["Approval_Probability"] <= 1 for p in body["predictions"])


def test_a_single_json_record_still_answers_a_list(client):
    response = client.post("/api/v1/score", json=records(good_frame(1))[0])
    assert response.status_code == 200 and len(response.json["predictions"]) == 1
    assert list(response.json["predictions"][0]) == ["Loan_ID", "Loan_Status", "Approval_Probability", "Error", "Action"]


def test_a_small_json_answer_carries_each_header_once_as_a_large_one_does(client, monkeypatch):
    from webapp.web import api

    small = client.post("/api/v1/score", json=records(good_frame(3)))
    monkeypatch.setattr(api, "SMALL_ANSWER_BYTES", 10)  # the same answer through send_file
    large = client.post("/api/v1/score", json=records(good_frame(3)))
    for response in (small, large):
        names = [name.lower() for name, _ in response.headers]
        assert len(names) == len(set(names)), names
        assert response.headers["Cache-Control"] == "no-store" and response.headers["Expires"]
        assert response.headers["X-Rows-Total"] == "3" and response.headers["X-Batch-Id"] == response.json["summary"]["batch_id"]
    assert small.headers["Content-Length"] == str(len(small.data))
    # What send_file adds for a file (its length is streamed, not known beforehand) aside, the same headers.
    assert set(dict(small.headers)) ^ set(dict(large.headers)) <= {"Content-Length", "Last-Modified"}


@pytest.mark.parametrize("field", ["Loan_ID", "Gender"])
def test_half_a_character_in_json_is_a_problem_not_a_server_error(client, field):
    body = json.dumps([{**records(good_frame(1))[0], field: "HALF"}]).replace('"HALF"', '"\\ud800"')
    response = client.post("/api/v1/score", data=body, content_type="application/json")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert "half of a character" in response.json["detail"]


def test_file_upload_answers_a_csv_download_with_summary_headers(client):
    frame = good_frame(8).astype(object)
    frame.loc[2, "Property_Area"] = "Mars"
    response = client.post("/api/v1/score", **multipart(frame.to_csv(index=False).encode(), "march batch.csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="march_batch-predictions.csv"'
    assert (response.headers["X-Rows-Total"], response.headers["X-Rows-Scored"], response.headers["X-Rows-Failed"]) == ("8", "7", "1")
    answer = read_csv_answer(response)
    assert list(answer.columns) == ["Loan_ID", "Loan_Status", "Approval_Probability", "Error", "Action"]
    assert answer.loc[2, "Error"] == "Property_Area: not one of Rural, Semiurban, Urban" and answer.loc[2, "Loan_Status"] == ""


def test_rows_with_errors_have_nulls_in_json(client):
    frame = good_frame(3).astype(object)
    frame.loc[1, "LoanAmount"] = -3
    predictions = client.post("/api/v1/score", json=records(frame)).json["predictions"]
    assert predictions[1] == {"Loan_ID": frame.loc[1, "Loan_ID"], "Loan_Status": None, "Approval_Probability": None,
                              "Error": "LoanAmount: must not be negative", "Action": None}


# --- content negotiation -----------------------------------------------------------------------

@pytest.mark.parametrize(("query", "accept", "mimetype"), [
    ("", None, "text/csv"),
    ("?format=json", None, "application/json"),
    ("?format=xlsx", None, XLSX),
    ("", "application/json", "application/json"),
    ("", XLSX, XLSX),
    ("", "text/csv;q=0.5, application/json", "application/json"),
    ("", "*/*", "text/csv"),
])
def test_answer_format_from_query_or_accept(client, query, accept, mimetype):
    headers = {"Accept": accept} if accept else {}
    response = client.post(f"/api/v1/score{query}", headers=headers, **multipart(good_frame().to_csv(index=False).encode()))
    assert response.status_code == 200 and response.mimetype == mimetype


def test_json_input_defaults_to_json_and_can_ask_for_csv(client):
    assert client.post("/api/v1/score", json=records(good_frame())).mimetype == "application/json"
    assert client.post("/api/v1/score", json=records(good_frame()), headers={"Accept": "text/csv"}).mimetype == "text/csv"


def test_excel_answer_opens_in_openpyxl(client):
    response = client.post("/api/v1/score?format=xlsx", **multipart(good_frame(4).to_csv(index=False).encode()))
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert sheet.max_row == 5 and response.headers["Content-Disposition"].endswith('-predictions.xlsx"')


def test_include_input_joins_other_columns(client):
    frame = good_frame(2)
    frame["Branch"] = ["North", "South"]
    answer = read_csv_answer(client.post("/api/v1/score?include_input=true", **multipart(frame.to_csv(index=False).encode())))
    assert answer["Branch"].tolist() == ["North", "South"]


# --- errors --------------------------------------------------------------------------------------

def problem_of(response, status):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert {"type", "title", "status", "detail"} <= body.keys() and body["status"] == status
    assert "Traceback" not in response.get_data(as_text=True)
    return body


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"data": b"", "content_type": "text/csv"}, 400, "empty-input"),
    ({"data": b"Loan_ID,Gender\n", "content_type": "text/csv"}, 422, "missing-columns"),
    ({"data": b"\x89PNG\r\n\x1a\n" + bytes(64), "content_type": "text/csv"}, 415, "unsupported-format"),
    ({"data": b"{not json", "content_type": "application/json"}, 400, "unreadable-input"),
    ({"data": b"[1,2,3]", "content_type": "application/json"}, 400, "not-records"),
    ({"data": b"a,b\n1,2\n"}, 415, "unsupported-format"),
    ({"data": b"<x/>", "content_type": "application/xml"}, 415, "unsupported-format"),
    ({"data": {"other": (io.BytesIO(b"x"), "a.csv")}, "content_type": "multipart/form-data"}, 400, "no-file"),
    ({"data": {"file": (io.BytesIO(b""), "a.csv")}, "content_type": "multipart/form-data"}, 400, "empty-input"),
])
def test_errors_are_problem_details(client, kwargs, status, code):
    body = problem_of(client.post("/api/v1/score", **kwargs), status)
    assert body["code"] == code


def test_missing_columns_problem_names_what_was_found_and_expected(client):
    body = problem_of(client.post("/api/v1/score", data="Loan_ID,Gender,Colour\nA,Male,red\n", content_type="text/csv"), 422)
    assert body["missing_columns"][:2] == ["Education", "Self_Employed"]
    assert body["found_columns"] == ["Loan_ID", "Gender", "Colour"] and len(body["expected_columns"]) == 9
    assert body["optional_columns"] == ["Gender", "Married", "Dependents"]


def test_no_content_type_is_415_naming_the_supported_ones(client):
    body = problem_of(client.post("/api/v1/score", data=b"x"), 415)
    assert "multipart/form-data" in body["detail"] and "application/json" in body["supported"]


def test_on_error_fail_turns_a_bad_row_into_422(client):
    frame = good_frame(4).astype(object)
    frame.loc[3, "Credit_History"] = 5
    body = problem_of(client.post("/api/v1/score?on_error=fail", json=records(frame)), 422)
    assert body["code"] == "rows-failed" and body["failures"][0]["row"] == 4


def test_errors_never_echo_applicant_rows(client):
    frame = good_frame(3).astype(object)
    frame.loc[0, "Property_Area"] = "Mars"
    body = client.post("/api/v1/score?on_error=fail", json=records(frame)).get_data(as_text=True)
    assert "5720" not in body and frame.loc[1, "Loan_ID"] not in body


def test_wrong_method_and_unknown_path(client):
    assert problem_of(client.get("/api/v1/score"), 405)["code"] == "method-not-allowed"
    assert problem_of(client.get("/api/v1/nothing"), 404)["code"] == "not-found"


def test_too_large_is_413_before_reading(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    body = problem_of(client.post("/api/v1/score", data=b"x" * 5000, content_type="text/csv"), 413)
    assert "larger than this service accepts" in body["detail"]


def test_bad_format_parameter(client):
    assert problem_of(client.post("/api/v1/score?format=pdf", json=records(good_frame())), 400)["code"] == "bad-format"


# --- the token -----------------------------------------------------------------------------------

def test_a_key_is_required_and_the_shared_token_is_gone(app):
    payload = records(good_frame(2))
    client = app.test_client()  # signed out, no key
    assert problem_of(client.post("/api/v1/score", json=payload), 401)["code"] == "unauthorized"
    assert client.post("/api/v1/score", json=payload, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/healthz").status_code == 200


# --- describing the API --------------------------------------------------------------------------

def test_model_card_endpoint(client, loaded_model):
    card = client.get("/api/v1/model").json
    assert card["version"] == loaded_model.version and "accuracy_mean" in card["cv"]
    assert {f["name"] for f in card["features"]} >= {"Gender", "Credit_History"}


def test_template_scores_as_is(client):
    template = client.get("/api/v1/template.csv")
    assert template.mimetype == "text/csv"
    lines = template.get_data(as_text=True).splitlines()
    assert lines[0].startswith("Loan_ID,Education,") and lines[0].endswith(",Gender,Married,Dependents")
    assert len(lines) == 2
    answer = read_csv_answer(client.post("/api/v1/score", data=template.data, content_type="text/csv"))
    assert answer.loc[0, "Error"] == "" and answer.loc[0, "Loan_Status"] in ("Y", "N")


def test_openapi_document_validates_and_lists_every_route(app, client):
    from openapi_spec_validator import validate

    spec = client.get("/openapi.json").json
    validate(spec)
    documented = set(spec["paths"])
    routes = {r.rule for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] in ("api", "health", "docs")}
    assert routes - {"/docs"} <= documented
    assert spec["components"]["schemas"]["Application"]["properties"]["Dependents"]["enum"] == ["0", "1", "2", "3+", None]


def test_docs_page_is_served_locally(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "openapi.json" in page or "docs.js" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no CDN: everything from this server


def test_parity_is_in_every_json_summary_and_flags_are_a_csv_header(client):
    frame = factories.disparate_applications()
    answer = client.post("/api/v1/score?format=json", json=records(frame)).json
    gender = answer["summary"]["fairness"]["Gender"]
    assert gender["groups"]["Male"]["rows"] == 60 and gender["flagged"] is True
    assert gender["adverse_impact_ratio"] == round(gender["groups"]["Female"]["approval_rate"]
                                                   / gender["groups"]["Male"]["approval_rate"], 4)
    csv_answer = client.post("/api/v1/score", **multipart(frame.to_csv(index=False).encode()))
    assert "Gender" in csv_answer.headers["X-Fairness-Flags"].split(", ")
    fair = client.post("/api/v1/score", **multipart(good_frame(5).to_csv(index=False).encode()))
    assert fair.headers["X-Fairness-Flags"] == "none"


def test_model_card_says_which_columns_decide_and_which_are_only_monitored(client):
    card = client.get("/api/v1/model").json
    assert not {"Gender", "Married", "Dependents"} & set(card["decision_features"])
    assert {"Gender", "Property_Area"} <= set(card["monitored_attributes"])
    assert "cv_with_protected_attributes" in card
    spec = client.get("/openapi.json").json
    gender = spec["components"]["schemas"]["Application"]["properties"]["Gender"]
    assert gender["x-decides"] is False and "Monitored only" in gender["description"]


# --- explanations ------------------------------------------------------------------------------
def declined_and_failed_frame():
    frame = good_frame(12, seed=4).astype(object)
    frame.loc[0:3, "Credit_History"] = 0.0  # declined, with credit history the first reason
    frame.loc[5, "Property_Area"] = "Mars"  # failed
    return frame


def test_explained_csv_adds_reason_columns_after_the_four_fixed_ones(client):
    frame = declined_and_failed_frame()
    answer = read_csv_answer(client.post("/api/v1/score?explain=true",
                                         **multipart(frame.to_csv(index=False).encode())))
    assert list(answer.columns) == ["Loan_ID", "Loan_Status", "Approval_Probability", "Error",
                                    "Reason_1", "Reason_2", "Reason_3", "Reason_4", "Reason_Codes", "Action"]
    declined = answer["Loan_Status"] == "N"
    assert declined[0:4].all()
    assert (answer.loc[0:3, "Reason_1"] == "Credit history does not meet guidelines").all()
    assert answer.loc[0:3, "Reason_Codes"].str.startswith("CREDIT_HISTORY").all()
    assert (answer.loc[~declined, ["Reason_1", "Reason_Codes"]] == "").all().all()  # approved and failed: none
    assert answer.loc[5, "Error"] != "" and answer.loc[5, "Reason_1"] == ""


def test_without_explain_the_answer_is_as_before(client):
    frame = declined_and_failed_frame()
    plain = client.post("/api/v1/score", **multipart(frame.to_csv(index=False).encode()))
    explained = read_csv_answer(client.post("/api/v1/score?explain=true", **multipart(frame.to_csv(index=False).encode())))
    assert list(read_csv_answer(plain).columns) == ["Loan_ID", "Loan_Status", "Approval_Probability", "Error", "Action"]
    pd.testing.assert_frame_equal(read_csv_answer(plain).iloc[:, :4], explained.iloc[:, :4])
    assert read_csv_answer(plain)["Action"].tolist() == explained["Action"].tolist()
    body = client.post("/api/v1/score", json=records(frame)).json
    assert "contributions" not in body["predictions"][0] and "decline_reasons" not in body["summary"]


def test_explained_json_carries_contributions_reasons_and_the_base(client):
    body = client.post("/api/v1/score?explain=true", json=records(declined_and_failed_frame())).json
    base = body["model"]["explanation_base"]
    assert body["model"]["explanation_method"] == "linear-exact" and isinstance(base, float)
    for row in body["predictions"]:
        if row["Error"]:
            assert row["contributions"] is None and row["reasons"] == []
            continue
        p = row["Approval_Probability"]
        total = base + sum(row["contributions"].values())
        assert abs(1 / (1 + math.exp(-total)) - p) <= 5e-5  # the answer's p is rounded to 4 decimals
        contributions = [r["contribution"] for r in row["reasons"]]
        assert contributions == sorted(contributions) and all(c < 0 for c in contributions) and len(contributions) <= 4
        assert (row["reasons"] != []) == (row["Loan_Status"] == "N")
        assert all(r["contribution"] == row["contributions"][r["feature"]] for r in row["reasons"])
    first = body["predictions"][0]["reasons"][0]
    assert first == {"code": "CREDIT_HISTORY", "feature": "Credit_History",
                     "text": "Credit history does not meet guidelines", "contribution": first["contribution"]}
    assert body["summary"]["decline_reasons"]["CREDIT_HISTORY"] >= 4


def test_reasons_for_every_scored_row_on_request(client):
    body = client.post("/api/v1/score?explain=true&reasons_for=all", json=records(good_frame(10, seed=4))).json
    assert any(row["Loan_Status"] == "Y" and row["reasons"] for row in body["predictions"])


def test_a_model_that_cannot_explain_says_so(forest_model_path, tmp_path):
    from webapp import create_app

    from tests.conftest import signed_in_client

    app = create_app({"TESTING": True, "SECRET_KEY": "t", "MODEL_PATH": str(forest_model_path),
                      "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    body = problem_of(signed_in_client(app).post("/api/v1/score?explain=true", json=records(good_frame(3))), 422)
    assert body["code"] == "explanations-unavailable"


def test_the_reason_table_is_published(client):
    codes = {r["code"] for r in client.get("/api/v1/model").json["reasons"]}
    assert {"CREDIT_HISTORY", "LOAN_AMOUNT_HIGH"} <= codes
    spec = client.get("/openapi.json").json
    assert {r["code"] for r in spec["x-reasons"]} == codes
    assert any(p["name"] == "explain" for p in spec["paths"]["/api/v1/score"]["post"]["parameters"])


# --- labelled files and drift ------------------------------------------------------------------
def test_the_training_file_with_include_input_keeps_every_prediction(client, shared_data):
    """The bug: an input Loan_Status used to replace the predicted one (117 of 614 rows contradicted
    their own probability)."""
    body = (shared_data / "loan_train.csv").read_bytes()
    answer = read_csv_answer(client.post("/api/v1/score?include_input=true", **multipart(body, "loan_train.csv")))
    probability = answer["Approval_Probability"].astype(float)
    clear = (probability - 0.5).abs() > 1e-4  # rounded to 4 decimals: 0.49996 shows as 0.5
    expected = probability.ge(0.5).map({True: "Y", False: "N"})
    assert (answer.loc[clear, "Loan_Status"] == expected[clear]).all() and clear.sum() > 600
    original = pd.read_csv(shared_data / "loan_train.csv", dtype=str, keep_default_na=False)
    assert answer["input_Loan_Status"].tolist() == original["Loan_Status"].tolist()


def test_labelled_json_answers_carry_the_evaluation(client):
    frame = factories.applications(120, seed=3, labelled=True)
    summary = client.post("/api/v1/score", json=records(frame)).json["summary"]
    evaluation = summary["evaluation"]
    assert evaluation["rows"] == 120 and {"accuracy", "roc_auc", "brier", "confusion", "calibration"} <= evaluation.keys()
    assert "evaluation" not in client.post("/api/v1/score", json=records(good_frame(3))).json["summary"]


def test_drift_flags_are_a_csv_header(client):
    frame = factories.applications(120, seed=1)  # the test model's own training rows: no drift
    assert client.post("/api/v1/score", **multipart(frame.to_csv(index=False).encode())).headers["X-Drift-Flags"] == "none"
    frame["ApplicantIncome"] *= 10
    shifted = client.post("/api/v1/score", **multipart(frame.to_csv(index=False).encode()))
    assert "ApplicantIncome" in shifted.headers["X-Drift-Flags"].split(", ")
    few = client.post("/api/v1/score", json=records(good_frame(3))).json["summary"]["drift"]
    assert few["judged"] is False


def test_the_bearer_scheme_is_case_insensitive(app, client):
    key = client.environ_base["HTTP_AUTHORIZATION"].split()[-1]
    payload = records(good_frame(1))
    for header in (f"bearer {key}", f"BEARER {key}", f"Bearer  {key}"):
        assert client.post("/api/v1/score", json=payload, headers={"Authorization": header}).status_code == 200
    assert client.post("/api/v1/score", json=payload, headers={"Authorization": f"Basic {key}"}).status_code == 401


@pytest.mark.parametrize(("limit", "shown"), [(1000, "1,000 bytes"), (200 * 1024, "200 KB"), (100 << 20, "100 MB"),
                                              (1536 << 10, "1.5 MB")])
def test_the_413_message_states_small_limits_readably(app, client, limit, shown):
    app.config["MAX_CONTENT_LENGTH"] = limit
    body = problem_of(client.post("/api/v1/score", data=b"x" * (limit + 1), content_type="text/csv"), 413)
    assert f"({shown})" in body["detail"]
