"""The JSON answers have exactly the shape the OpenAPI document describes: real answers validate
against the pydantic models the document is generated from, and a field the service adds without
describing it fails here."""
import pytest

from tests import factories
from webapp.service.options import ScoreQuery
from webapp.service.schemas import ScoreResult, SummaryReport, query_parameters


def labelled_file_with_a_bad_row(rows=150):
    frame = factories.applications(rows, seed=4, labelled=True).astype(object)
    frame.loc[2, "Property_Area"] = "Mars"
    return frame.to_csv(index=False).encode()


@pytest.mark.parametrize("query", ["format=json", "format=json&explain=true", "format=json&explain=true&reasons_for=all"])
def test_json_answers_validate_against_the_documented_shape(client, query):
    body = client.post(f"/api/v1/score?{query}", data=labelled_file_with_a_bad_row(), content_type="text/csv").json
    result = ScoreResult.model_validate(body)
    assert result.summary.evaluation is not None and result.summary.drift is not None
    assert result.summary.failed == 1 and result.summary.batch_id


def test_an_undescribed_summary_field_is_refused():
    with pytest.raises(ValueError):
        SummaryReport.model_validate({"rows": 0, "scored": 0, "failed": 0, "approved": 0, "approval_rate": None,
                                      "actions": {}, "failures_by_reason": {}, "first_failures": [],
                                      "probability_histogram": [], "input_format": "csv", "extra_columns": [],
                                      "fairness": {}, "surprise": 1})


def test_the_score_parameters_are_generated_from_the_model_that_parses_them(client):
    spec = client.get("/openapi.json").json
    documented = {p["name"] for p in spec["paths"]["/api/v1/score"]["post"]["parameters"]}
    assert documented == set(ScoreQuery.model_fields) == {p["name"] for p in query_parameters(ScoreQuery)}
    assert spec["components"]["schemas"]["SummaryReport"]["additionalProperties"] is False
