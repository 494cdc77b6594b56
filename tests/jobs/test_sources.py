"""The source fence: a dataset job reads only under a JOB_SOURCES prefix."""
from __future__ import annotations

import json

import pytest

from tests import factories
from tests.conftest import signed_in_client
from tests.jobs.conftest import make_app
from webapp.jobs.sources import SourceRefused, check_source


@pytest.fixture
def allowed(tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    factories.applications(30, seed=5).to_csv(folder / "part-1.csv", index=False)
    factories.applications(20, seed=6).to_parquet(folder / "part-2.parquet", index=False)
    (tmp_path / "secret.csv").write_text("Loan_ID\nX\n")
    return folder


@pytest.mark.parametrize("source", ["file:///etc/passwd", "/etc/passwd", "{root}/../secret.csv",
                                    "{root}/..", "http://example.com/{root}/part-1.csv", "s3://bucket/x.csv",
                                    "simplecache::{root}/part-1.csv", "{root}-other/x.csv", "relative/part-1.csv",
                                    "", "{root}/part-1.csv\x00"])
def test_sources_outside_the_prefixes_are_refused(allowed, source):
    with pytest.raises(SourceRefused):
        check_source(source.format(root=allowed), [str(allowed)])


def test_a_symlink_out_of_the_prefix_is_refused(allowed, tmp_path):
    (allowed / "link.csv").symlink_to(tmp_path / "secret.csv")
    with pytest.raises(SourceRefused):
        check_source(str(allowed / "link.csv"), [str(allowed)])


def test_no_prefixes_no_sources(allowed):
    with pytest.raises(SourceRefused, match="JOB_SOURCES is unset"):
        check_source(str(allowed), [])


@pytest.mark.parametrize("source", ["{root}", "{root}/", "{root}/*.csv", "file://{root}/part-1.csv"])
def test_sources_under_a_prefix_are_read(allowed, source):
    assert check_source(source.format(root=allowed), [f"s3://elsewhere/,{allowed}".split(",")[1]]).startswith(
        str(allowed))


def test_remote_prefixes_match_whole_segments():
    assert check_source("s3://loans/in/a.csv", ["s3://loans/in"]) == "s3://loans/in/a.csv"
    with pytest.raises(SourceRefused):
        check_source("s3://loans/inside/a.csv", ["s3://loans/in"])


def test_a_dataset_job_scores_every_part_through_the_engine(model_path, tmp_path, allowed):
    app = make_app(model_path, tmp_path, f"sqlite:///{tmp_path / 'd.db'}", JOBS_IMMEDIATE=True,
                   JOB_SOURCES=f"s3://nowhere/,{allowed}")
    client = signed_in_client(app)
    job = client.post("/api/v1/jobs", data=json.dumps({"source": str(allowed), "format": "csv"}),
                      content_type="application/json").json
    assert job["state"] == "succeeded", job["error"]
    assert job["progress"]["rows_done"] == job["progress"]["rows_total"] == 50
    result = client.get(job["result"])
    assert result.status_code == 200 and result.data.count(b"\n") == 51
    batch = signed_in_client(app, "auditor@bank.example", "auditor").get(f"/api/v1/batches/{job['batch_id']}").json
    assert (batch["channel"], batch["status"], batch["counts"]["rows"]) == ("job", "complete", 50)


def test_the_api_refuses_a_source_with_403_problem_json(model_path, tmp_path, allowed):
    app = make_app(model_path, tmp_path, f"sqlite:///{tmp_path / 'd.db'}", JOBS_IMMEDIATE=True,
                   JOB_SOURCES=str(allowed))
    client = signed_in_client(app)
    for source in ("file:///etc/passwd", f"{allowed}/../secret.csv", "https://example.com/a.csv"):
        response = client.post("/api/v1/jobs", json={"source": source, "format": "csv"})
        assert response.status_code == 403 and response.mimetype == "application/problem+json"
        assert response.json["code"] == "source-refused"
    assert client.get("/api/v1/jobs").json["jobs"] == []


@pytest.mark.parametrize("pattern", ["{root}", "{root}/*.csv"])
def test_a_link_inside_an_allowed_folder_to_a_file_outside_it_fails_the_job(model_path, tmp_path, allowed, pattern):
    secret = tmp_path / "secret.csv"
    secret.write_text((allowed / sorted(p.name for p in allowed.glob("*.csv"))[0]).read_text())
    (allowed / "zz-link.csv").symlink_to(secret)
    app = make_app(model_path, tmp_path, f"sqlite:///{tmp_path / 'd.db'}", JOBS_IMMEDIATE=True,
                   JOB_SOURCES=str(allowed))
    job = signed_in_client(app).post("/api/v1/jobs", json={"source": pattern.format(root=allowed),
                                                           "format": "csv"}).json
    assert job["state"] == "failed" and job["error"]["code"] == "source-refused"
    assert job["result"] is None


@pytest.mark.parametrize("odd", [{"format": ["csv"]}, {"format": {"a": 1}}, {"sheet": 10 ** 30},
                                 {"sheet": ["a"]}])
def test_odd_values_in_a_dataset_job_answer_400_problem_json(model_path, tmp_path, allowed, odd):
    app = make_app(model_path, tmp_path, f"sqlite:///{tmp_path / 'd.db'}", JOBS_IMMEDIATE=True,
                   JOB_SOURCES=str(allowed))
    response = signed_in_client(app).post("/api/v1/jobs", json={"source": str(allowed), **odd})
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
