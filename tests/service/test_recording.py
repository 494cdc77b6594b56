"""Every batch scored through the one door is in the decision record: the API, the page and the CLI;
whole-file failures as failed batches; a database that cannot be written stops the answer (503)."""
import errno
import hashlib
import io
import os
import tempfile
import threading

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import create_engine, text

from tests import factories
from tests.conftest import POSTGRES_ADMIN_URL, BufferedClient, signed_in_client
from webapp import create_app


def csv_body(rows=20, seed=5, bad_row=None):
    frame = factories.applications(rows, seed=seed).astype(object)
    if bad_row is not None:
        frame.loc[bad_row, "Property_Area"] = "Mars"
    return frame, frame.to_csv(index=False).encode()


def test_an_api_answer_names_its_batch_and_the_record_holds_every_row(db_app):
    client = signed_in_client(db_app)
    frame, body = csv_body(bad_row=3)
    answer = client.post("/api/v1/score?explain=true", data=body, content_type="text/csv")
    batch_id = answer.headers["X-Batch-Id"]
    batch = client.get(f"/api/v1/batches/{batch_id}").json
    assert batch["status"] == "complete" and batch["channel"] == "api" and batch["actor"] == "analyst@bank.example"
    assert batch["counts"] == {"rows": 20, "scored": 19, "failed": 1}
    assert batch["summary"]["batch_id"] == batch_id
    failed = client.get(f"/api/v1/decisions?loan_id={frame.loc[3, 'Loan_ID']}").json["decisions"]
    assert failed[0]["status"] is None and "Property_Area" in failed[0]["error"]
    scored = client.get(f"/api/v1/decisions?loan_id={frame.loc[0, 'Loan_ID']}").json["decisions"][0]
    assert scored["batch_id"] == batch_id and 0 <= scored["probability"] <= 1
    assert set(scored["inputs"]) >= {"Credit_History", "ApplicantIncome", "Gender"}


def test_json_answers_carry_the_batch_id_in_the_summary(db_app):
    client = signed_in_client(db_app)
    frame, _ = csv_body(3)
    body = client.post("/api/v1/score", json=frame.to_dict(orient="records")).json
    assert client.get(f"/api/v1/batches/{body['summary']['batch_id']}").status_code == 200


def test_a_whole_file_problem_is_a_failed_batch(db_app):
    client = signed_in_client(db_app, "auditor@example.test", "auditor")
    scorer = signed_in_client(db_app, "ann@example.test", "analyst")
    refused = scorer.post("/api/v1/score", data=b"Loan_ID,Colour\nA,red\n", content_type="text/csv")
    assert refused.status_code == 422
    batches = client.get("/api/v1/batches?actor=ann@example.test").json["batches"]
    assert [b["status"] for b in batches] == ["failed"] and batches[0]["failure_reason"]


def test_the_upload_page_records_its_batch(db_app):
    client = signed_in_client(db_app)
    _, body = csv_body(5)
    client.post("/", data={"file": (io.BytesIO(body), "march.csv")}, content_type="multipart/form-data")
    batches = client.get("/api/v1/batches").json["batches"]
    assert [(b["channel"], b["input"]["name"], b["status"]) for b in batches] == [("page", "march.csv", "complete")]


def test_flask_score_records_its_batch_as_the_os_user(db_app, tmp_path):
    frame, body = csv_body(12)
    source = tmp_path / "batch.csv"
    source.write_bytes(body)
    result = db_app.test_cli_runner().invoke(args=["score", str(source)])
    assert result.exit_code == 0, result.output
    batch_id = result.output.split("recorded as batch ")[1].split()[0]
    batch = signed_in_client(db_app, "auditor@example.test", "auditor").get(f"/api/v1/batches/{batch_id}").json
    assert batch["channel"] == "cli" and batch["counts"]["rows"] == 12 and batch["status"] == "complete"


@pytest.mark.parametrize("refused", [False, True])
def test_a_large_upload_is_hashed_as_it_is_scored_and_its_batch_names_its_sha256(db_app, monkeypatch, refused):
    from webapp.service import recording

    monkeypatch.setattr(recording, "THREADED_HASH_BYTES", 1024)
    hashed_later = []

    class Spied(recording.HashingInputFile):
        def __init__(self, name, *rest):
            hashed_later.append(name)
            super().__init__(name, *rest)

    monkeypatch.setattr(recording, "HashingInputFile", Spied)
    _, body = csv_body(9000)  # past werkzeug's 500 KB spool: the upload is a file on disk
    if refused:
        body = body.replace(b"Property_Area", b"Colour", 1)  # a whole-file problem: a failed batch
    client = signed_in_client(db_app)
    answer = client.post("/api/v1/score", data={"file": (io.BytesIO(body), "big.csv")}, content_type="multipart/form-data")
    assert answer.status_code == (422 if refused else 200) and hashed_later == ["big"]
    batch = client.get("/api/v1/batches?limit=1").json["batches"][0]
    assert batch["status"] == ("failed" if refused else "complete")
    assert batch["input"]["sha256"] == hashlib.sha256(body).hexdigest() and batch["input"]["size"] == len(body)


def test_an_input_that_cannot_be_read_to_its_end_is_a_503_and_a_failed_batch(db_app, monkeypatch):
    from webapp.service import recording

    def unreadable(descriptor, size):
        os.close(descriptor)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(recording, "THREADED_HASH_BYTES", 1024)
    monkeypatch.setattr(recording, "_hash_descriptor", unreadable)
    _, body = csv_body(9000)
    client = signed_in_client(db_app)
    answer = client.post("/api/v1/score", data={"file": (io.BytesIO(body), "big.csv")}, content_type="multipart/form-data")
    assert answer.status_code == 503 and answer.mimetype == "application/problem+json"
    batch = client.get("/api/v1/batches?limit=1").json["batches"][0]
    assert batch["status"] == "failed" and batch["input"]["sha256"] == ""


def test_an_input_file_is_hashed_where_it_lies_and_left_at_its_start(tmp_path, monkeypatch):
    from webapp.service import recording

    monkeypatch.setattr(recording, "THREADED_HASH_BYTES", 1024)
    data = bytes(range(256)) * 40
    on_disk = tmp_path / "input.csv"
    on_disk.write_bytes(data)
    with open(on_disk, "rb") as source:
        identity = recording.InputFile.of(source, "input")
        assert isinstance(identity, recording.HashingInputFile) and source.tell() == 0
        assert source.read() == data  # scoring reads it meanwhile: positional reads never move it
        assert (identity.sha256, identity.size) == (hashlib.sha256(data).hexdigest(), len(data))
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as in_memory:
        in_memory.write(data)
        in_memory.seek(0)
        identity = recording.InputFile.of(in_memory, "input")
        assert isinstance(identity, recording.InputFile) and not in_memory._rolled  # never made to roll over
        assert identity.sha256 == hashlib.sha256(data).hexdigest() and in_memory.tell() == 0
    with tempfile.SpooledTemporaryFile(max_size=16) as rolled:
        rolled.write(data)  # past its size: on disk, the last bytes perhaps still in the file object's buffer
        rolled.seek(0)
        assert recording.InputFile.of(rolled, "input").sha256 == hashlib.sha256(data).hexdigest()


def test_eight_parallel_uploads_on_sqlite_all_succeed(app):
    _, body = csv_body(200)
    clients = [signed_in_client(app, f"user{i}@example.test", "analyst") for i in range(8)]
    codes = []

    def upload(client):
        codes.append(client.post("/api/v1/score", data=body, content_type="text/csv").status_code)

    threads = [threading.Thread(target=upload, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert codes == [200] * 8


@pytest.fixture
def doomed_database(postgres_database):
    """A PostgreSQL database of its own, dropped while the app still uses it."""
    import secrets

    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"loan_doomed_{secrets.token_hex(3)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False), drop
    drop()
    admin.dispose()


def test_an_unreachable_database_is_a_503_never_scoring_without_recording(model_path, tmp_path, doomed_database):
    url, drop = doomed_database
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "MODEL_PATH": str(model_path), "DATABASE_URL": url,
                      "UPLOAD_FOLDER": str(tmp_path), "MODEL_STORE": str(tmp_path / "models")})
    app.test_client_class = BufferedClient
    client = signed_in_client(app)
    _, body = csv_body(3)
    assert client.post("/api/v1/score", data=body, content_type="text/csv").status_code == 200
    drop()
    app.extensions["database"].engine.dispose()
    answer = client.post("/api/v1/score", data=body, content_type="text/csv")
    assert answer.status_code == 503  # the key may be known from memory: the record cannot be written
    assert answer.mimetype == "application/problem+json" and answer.json["code"] == "database-unavailable"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "database" in ready.get_json()
    app.extensions["database"].dispose()


@pytest.mark.parametrize("cells", [["Male", "", None, "Female"], ["", ""], [None], ["3+", "0", "3+"]])
def test_monitored_categories_are_recorded_as_their_text_would_be(cells):
    from webapp.service.recording import _given, _given_text

    values = pd.Series(pd.Categorical(cells))
    text = _given_text(pd.Series(cells, dtype=object))
    expected = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    assert _given(values).to_pylist() == expected.to_pylist()
    kind = _given(values).type  # text, or a dictionary of text that the record's `normalise` makes text
    assert kind == pa.string() or (pa.types.is_dictionary(kind) and kind.value_type == pa.string())
