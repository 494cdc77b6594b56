"""A dataset job on the Dask engine, end to end on a real cluster (`DASK_SCHEDULER_ADDRESS`): its
parts are scored on the cluster's worker through the same per-part code as `flask score`, the
answer has every row in input order, the run is one complete batch of channel `job`, and progress
reaches the total."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from sqlalchemy import select

from tests import factories
from tests.conftest import signed_in_client
from tests.jobs.conftest import make_app
from webapp.jobs import services
from webapp.records.models import Batch

pytestmark = pytest.mark.server
PARTS = {"part-0.csv": 700, "part-1.parquet": 500, "part-2.csv": 900, "part-3.csv": 400}  # 2,500 rows


@pytest.fixture
def incoming(tmp_path):
    """Parts written out of name order, one of them Parquet, a few rows broken."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    for number, (name, rows) in reversed(list(enumerate(PARTS.items()))):
        frame = factories.applications(rows, seed=number, id_prefix=f"P{number}-")
        frame.loc[number, "Property_Area"] = "Mars"
        if name.endswith(".csv"):
            frame.to_csv(folder / name, index=False)
        else:
            (folder / name).write_bytes(factories.parquet_bytes(frame))
    return folder


@pytest.fixture
def dask_app(model_path, tmp_path, incoming, dask_cluster):
    app = make_app(model_path, tmp_path, f"sqlite:///{tmp_path / 'dask.db'}", JOBS_IMMEDIATE=True,
                   JOB_SOURCES=str(incoming), DASK_SCHEDULER_ADDRESS=dask_cluster.scheduler_address)
    yield app
    app.extensions["database"].dispose()


def expected_ids(folder) -> list[str]:
    ids = []
    for name in PARTS:  # sorted name order is input order
        path = folder / name
        ids += list((pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path))["Loan_ID"])
    return ids


@pytest.fixture
def parts_scored(dask_cluster):
    """The part tasks the cluster's scheduler saw finish (its worker computed them)."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Seen(SchedulerPlugin):
        name = "parts-scored"
        keys: list = []

        def transition(self, key, start, finish, *args, **kwargs):
            if finish == "memory" and str(key).startswith("score-part-"):
                self.keys.append(key)

    seen = Seen()
    seen.keys = []
    dask_cluster.scheduler.add_plugin(seen)
    yield seen.keys
    dask_cluster.scheduler.remove_plugin(name=seen.name)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_dask_dataset_job_scores_every_part_on_the_cluster(dask_app, parts_scored, incoming, monkeypatch, fmt):
    writes = []
    original = services.progress
    monkeypatch.setattr(services, "progress", lambda db, job_id, worker, done, total=None:
                        (writes.append((done, total)), original(db, job_id, worker, done, total))[1])
    client = signed_in_client(dask_app)
    job = client.post("/api/v1/jobs", data=json.dumps({"source": str(incoming), "format": fmt, "engine": "dask"}),
                      content_type="application/json").json

    assert job["state"] == "succeeded", job["error"]
    assert len(parts_scored) == len(PARTS)  # on the cluster, not a cluster of its own
    total = sum(PARTS.values())
    assert writes[0] == (0, total) and writes[-1] == (total, total)
    assert [done for done, _ in writes] == sorted(done for done, _ in writes)
    assert job["progress"] == {"rows_done": total, "rows_total": total, "percent": 100.0}
    assert (job["summary"]["rows"], job["summary"]["failed"]) == (total, len(PARTS))

    result = client.get(job["result"])
    answer = pd.read_csv(io.BytesIO(result.data)) if fmt == "csv" else pd.read_parquet(io.BytesIO(result.data))
    assert list(answer["Loan_ID"]) == expected_ids(incoming)

    with dask_app.extensions["database"].session() as session:
        [batch] = session.scalars(select(Batch)).all()
        assert (batch.id, batch.channel, batch.status, batch.rows) == (job["batch_id"], "job", "complete", total)
        assert (batch.scored, batch.failed) == (total - len(PARTS), len(PARTS))
