"""GET /metrics: Prometheus text, every gunicorn worker's counts in every scrape, no applicant data."""
import re
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import factories


def samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, metric: str, **labels) -> float:
    return samples(text).get((metric, tuple(sorted(labels.items()))), 0.0)


def test_scoring_is_counted_and_labels_carry_no_applicant_data(client):
    frame = factories.applications(10, seed=2).astype(object)
    frame.loc[0, "Property_Area"] = "Mars"
    frame.loc[1, "Loan_ID"] = "SECRET-ID-123"
    before = client.get("/metrics").get_data(as_text=True)
    client.post("/api/v1/score", data=frame.to_csv(index=False), content_type="text/csv")
    after = client.get("/metrics")
    assert after.status_code == 200 and after.mimetype == "text/plain"
    text = after.get_data(as_text=True)
    assert value(text, "loan_rows_scored_total") - value(before, "loan_rows_scored_total") == 9
    assert value(text, "loan_rows_failed_total") - value(before, "loan_rows_failed_total") == 1
    reason = "Property_Area: not an allowed value"
    assert value(text, "loan_row_failures_total", reason=reason) - value(before, "loan_row_failures_total",
                                                                         reason=reason) == 1
    route = dict(route="/api/v1/score", method="POST", status="200")
    assert value(text, "loan_http_requests_total", **route) - value(before, "loan_http_requests_total", **route) == 1
    assert value(text, "loan_upload_bytes_total") > value(before, "loan_upload_bytes_total")
    assert value(text, "loan_http_request_duration_seconds_count", route="/api/v1/score") >= 1
    assert "Mars" not in text and "SECRET-ID" not in text


def test_result_tokens_never_reach_a_label(client):
    response = client.post("/", data={"file": (__import__("io").BytesIO(
        factories.applications(3).to_csv(index=False).encode()), "a.csv")}, content_type="multipart/form-data")
    token = response.headers["Location"].rsplit("/", 1)[1]
    client.get(f"/results/{token}")
    text = client.get("/metrics").get_data(as_text=True)
    assert token not in text and 'route="/results/<token>"' in text


def test_the_model_version_is_an_info_metric(app, client):
    model = app.extensions["models"].current()
    text = client.get("/metrics").get_data(as_text=True)
    assert value(text, "loan_model_info", name=model.name, version=model.version) == 1


def test_metrics_can_require_a_token(app, client):
    app.config["METRICS_TOKEN"] = "scrape-me"
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": "bearer scrape-me"}).status_code == 200


@pytest.mark.server
def test_every_scrape_adds_up_every_workers_counts(live_server):
    def scrape() -> str:
        with urllib.request.urlopen(f"{live_server}/metrics", timeout=10) as response:
            return response.read().decode()

    def worker_files() -> set[str]:
        return {re.sub(r"^\w+?_(\d+)\.db$", r"\1", p.name) for p in live_server.metrics_dir.glob("counter_*.db")}

    key = dict(route="/readyz", method="GET", status="200")
    start = value(scrape(), "loan_http_requests_total", **key)
    sent = 0
    while sent < 400 and (sent < 40 or len(worker_files()) < 2):  # fresh connections, spread over the workers
        with urllib.request.urlopen(f"{live_server}/readyz", timeout=10):
            sent += 1
    assert len(worker_files()) >= 2, "both workers should have answered some requests"
    totals = {value(scrape(), "loan_http_requests_total", **key) - start for _ in range(8)}
    assert totals == {sent}  # whichever worker answers the scrape, it counts every worker's requests
