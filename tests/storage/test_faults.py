"""Storage faults are answers, not crashes: a full disk, a read-only results folder or a results path
that is a plain file each give a clear 503 naming the storage problem, leave nothing behind, and
make /readyz say so. Any fsspec URL works as the store."""
import errno
import io
import os

import pytest

from tests import factories
from tests.conftest import signed_in_client
from webapp import create_app
from webapp.storage import ResultStore, StorageFault


def upload(client):
    body = factories.applications(5, seed=3).to_csv(index=False).encode()
    return client.post("/", data={"file": (io.BytesIO(body), "a.csv")}, content_type="multipart/form-data")


def app_with_results(model_path, tmp_path, results):
    return create_app({"TESTING": True, "SECRET_KEY": "t", "MODEL_PATH": str(model_path), "WTF_CSRF_ENABLED": False,
                       "UPLOAD_FOLDER": str(results), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})


def test_a_results_path_that_is_a_file_gives_503_and_readyz_says_so(model_path, tmp_path):
    plain_file = tmp_path / "results"
    plain_file.write_text("not a folder")
    client = signed_in_client(app_with_results(model_path, tmp_path, plain_file))
    response = upload(client)
    assert response.status_code == 503
    assert "could not be stored" in response.get_data(as_text=True)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "results store" in ready.get_json()["storage"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_results_folder_gives_503(model_path, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    client = signed_in_client(app_with_results(model_path, tmp_path, folder))
    assert upload(client).status_code == 503
    assert client.get("/readyz").status_code == 503


def test_a_full_disk_gives_503_and_leaves_nothing_behind(model_path, tmp_path, monkeypatch):
    folder = tmp_path / "full"
    client = signed_in_client(app_with_results(model_path, tmp_path, folder))

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("webapp.storage.results._owner_only", no_space)
    response = upload(client)
    assert response.status_code == 503
    assert "no space left on device" in response.get_data(as_text=True)
    assert list(folder.iterdir()) == []


def test_any_fsspec_url_serves_as_the_store():
    store = ResultStore("memory://results-test", ttl_seconds=60)
    token = store.create(lambda out: out.write(b"Loan_ID\r\nA\r\n") and {"rows": 1}, {"filename": "a.csv"})
    result = store.get(token)
    with store.open(result) as stored:
        assert stored.read() == b"Loan_ID\r\nA\r\n"
    assert store.check() is None


def test_a_killed_writer_leaves_no_orphan_after_the_purge(tmp_path):
    store = ResultStore(tmp_path, ttl_seconds=60)
    (tmp_path / ("x" * 43 + ".csv")).write_bytes(b"Loan_ID\r\n")  # data without metadata
    (tmp_path / ("y" * 43 + ".csv.1234.partial")).write_bytes(b"Loan_ID\r\n")
    for path in tmp_path.iterdir():
        os.utime(path, (0, 0))  # left long ago
    store.purge()
    assert list(tmp_path.iterdir()) == []


def test_faults_are_storage_faults(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StorageFault):
        ResultStore(tmp_path / "f", ttl_seconds=60).create(lambda out: {}, {})


def test_a_full_disk_while_the_api_writes_its_answer_gives_503_and_a_failed_batch(app, monkeypatch):
    from webapp.records.models import Batch
    from webapp.service import scoring

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(scoring, "write_result", no_space)
    client = signed_in_client(app)
    body = factories.applications(5, seed=3).to_csv(index=False).encode()
    response = client.post("/api/v1/score", data={"file": (io.BytesIO(body), "a.csv")},
                           headers={"Accept": "text/csv"}, content_type="multipart/form-data")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "storage-unavailable"
    assert "no space left on device" in response.get_json()["detail"]
    with app.extensions["database"].session() as session:
        assert [b.status for b in session.query(Batch)] == ["failed"]
