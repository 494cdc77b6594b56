"""Replay through the service: a batch scored by the API replays with exit 0 — by the model version
it recorded, even after another was promoted — and a tampered probability exits 1 naming the row."""
from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import signed_in_client
from tests.strategies import request_records
from tests.factories import applications
from tests.records.conftest import rewrite
from tests.registry.apps import ROLES
from webapp.web.records import records_store


@pytest.fixture
def batch_id(db_app) -> str:
    frame = applications(25, seed=11).astype(object)
    frame.loc[[2, 7], "Property_Area"] = "Mars"   # two rows fail validation
    frame.loc[4, "ApplicantIncome"] = "lots"
    response = signed_in_client(db_app).post("/api/v1/score?explain=1", data=frame.to_csv(index=False).encode(),
                                             content_type="text/csv")
    assert response.status_code == 200 and response.headers["X-Rows-Failed"] == "3"
    return response.headers["X-Batch-Id"]


def test_an_api_batch_with_failed_rows_replays_exactly(db_app, batch_id):
    result = db_app.test_cli_runner().invoke(args=["records", "replay", batch_id])
    assert result.exit_code == 0, result.output
    assert "replayed 25 row(s): every decision matches" in result.output


def test_a_tampered_probability_exits_1_naming_the_row(db_app, batch_id):
    def tamper(table: pa.Table) -> pa.Table:
        probability = table["probability"].to_pylist()
        probability[0] += 1e-9
        return table.set_column(table.schema.get_field_index("probability"), "probability",
                                pa.array(probability, pa.float64()))

    rewrite(db_app.extensions["database"], batch_id, tamper, records_store(db_app))
    result = db_app.test_cli_runner().invoke(args=["records", "replay", batch_id])
    assert result.exit_code == 1
    assert "row 1 T" in result.output and "probability" in result.output


def test_replay_uses_the_recorded_version_after_a_promotion(db_app, batch_id, forest_model_path):
    db_app.extensions["role_of"] = ROLES.get
    registry = db_app.extensions["model_registry"]
    version = registry.register(forest_model_path, by="ada@bank.example")["version"]
    registry.approve(version, by="bo@bank.example", note="validated")
    registry.promote(version, by="ada@bank.example", note="new champion")
    result = db_app.test_cli_runner().invoke(args=["records", "replay", batch_id])
    assert result.exit_code == 0, result.output


def test_replay_refuses_a_version_that_is_not_the_artifact_or_threshold_the_batch_recorded(db_app, batch_id):
    from webapp.records.models import Batch

    with db_app.extensions["database"].session() as s:
        s.get(Batch, batch_id).model_sha256 = "0" * 64  # as if the name now stood for another artifact
    result = db_app.test_cli_runner().invoke(args=["records", "replay", batch_id])
    assert result.exit_code != 0 and "is not the one the batch recorded" in result.output


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=request_records(), explain=st.booleans(), sent_as=st.sampled_from(["json", "csv"]))
def test_replay_of_generated_requests_with_valid_and_invalid_rows_equals_the_original(db_app, records, explain,
                                                                                      sent_as):
    """Through the real service: header matching, normalisation, the model and the reasons, then
    `flask records replay` with the version the batch recorded (the property the issue asks for)."""
    import json

    import pandas as pd

    client = signed_in_client(db_app)
    if sent_as == "json":
        body, content_type = json.dumps(records, default=str).encode(), "application/json"
    else:
        body, content_type = pd.DataFrame(records).to_csv(index=False).encode(), "text/csv"
    response = client.post(f"/api/v1/score?explain={int(explain)}", data=body, content_type=content_type,
                           headers={"Accept": "text/csv"})
    if response.status_code != 200:  # a whole-request refusal (no ID column, every row failing with on_error...)
        assert response.status_code in (400, 413, 415, 422), response.get_data(as_text=True)[:300]
        return
    result = db_app.test_cli_runner().invoke(args=["records", "replay", response.headers["X-Batch-Id"]])
    assert result.exit_code == 0, result.output[-2000:]
