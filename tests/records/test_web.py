"""The record over HTTP: the API routes and the two pages, on each database."""
from datetime import UTC, date
from pathlib import Path

import pytest

from tests import factories
from tests.conftest import signed_in_client
from tests.records.conftest import decisions, start
from webapp.records import ArchiveUnavailable, Recorder, hold, purge
from webapp.records.services import months_before
from webapp.web.records import records_store


def auditor(app):
    """An auditor reads every batch and decision."""
    return signed_in_client(app, "auditor@bank.example", "auditor")


@pytest.fixture
def recorded(db_app):
    """record(table, **start fields) -> batch id, through the app's database and store."""
    def record(table, **overrides):
        recorder = Recorder(db_app.extensions["database"], start(**overrides), store=records_store(db_app))
        recorder.add(table)
        recorder.complete({"rows": table.num_rows})
        return recorder.batch_id
    return record


def test_decisions_for_an_id(db_app, recorded):
    first = recorded(decisions(["LP001015", "LP2"], probabilities=[0.2, 0.9]))
    second = recorded(decisions(["LP001015"], probabilities=[0.7]), actor="alice")
    answer = auditor(db_app).get("/api/v1/decisions?loan_id=LP001015")
    assert answer.status_code == 200
    found = answer.json["decisions"]
    assert [d["batch_id"] for d in found] == [second, first]
    assert set(found[1]) >= {"batch_id", "row", "created_at", "actor", "purpose", "model_version", "status",
                             "probability", "threshold", "reasons", "inputs", "error"}
    assert found[1]["reasons"][0]["code"] == "CREDIT_HISTORY"


def test_decisions_need_a_loan_id(db_app):
    answer = auditor(db_app).get("/api/v1/decisions")
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"


def test_batches_paged_and_filtered(db_app, recorded):
    ids = [recorded(decisions([f"L{i}"]), actor="alice" if i == 1 else "anonymous") for i in range(3)]
    client = auditor(db_app)
    page = client.get("/api/v1/batches?per_page=2&page=1").json
    assert [b["batch_id"] for b in page["batches"]] == ids[::-1][:2] and page["total"] == 3
    assert [b["batch_id"] for b in client.get("/api/v1/batches?actor=alice").json["batches"]] == [ids[1]]
    assert client.get("/api/v1/batches?since=2999-01-01").json["total"] == 0
    bad = client.get("/api/v1/batches?since=yesterday")
    assert bad.status_code == 400 and bad.json["code"] == "bad-query"
    assert client.get("/api/v1/batches?page=0").status_code == 400


@pytest.mark.parametrize("query", ["page=%C2%B2", "per_page=%C2%B2", "page=99999999999999999999999", "page=-1",
                                   "purpose=bogus", "since=0001-01-01T00:00:00%2B01:00",
                                   "until=9999-12-31T23:59:59-05:00"])
def test_unreadable_paging_and_filters_answer_400(db_app, query):
    bad = auditor(db_app).get(f"/api/v1/batches?{query}")
    assert (bad.status_code, bad.mimetype, bad.json["code"]) == (400, "application/problem+json", "bad-query")


def test_since_and_until_in_any_utc_offset_mean_the_same_moment(db_app, recorded):
    from datetime import datetime, timedelta, timezone

    batch_id = recorded(decisions(["A"]))
    created = datetime.fromisoformat(auditor(db_app).get(f"/api/v1/batches/{batch_id}").json["created_at"]
                                     .replace("Z", "+00:00"))
    client = auditor(db_app)

    def total(name, moment):
        return client.get("/api/v1/batches", query_string={name: moment.isoformat()}).json["total"]

    east, west = timezone(timedelta(hours=5)), timezone(timedelta(hours=-5))
    assert total("since", (created - timedelta(hours=1)).astimezone(east)) == 1
    assert total("since", (created + timedelta(hours=1)).astimezone(west)) == 0
    assert total("until", (created + timedelta(hours=1)).astimezone(west)) == 1
    assert total("until", (created - timedelta(hours=1)).astimezone(east)) == 0


def test_a_batch_unknown_and_purged(db_app, recorded):
    from datetime import datetime, timedelta

    client = auditor(db_app)
    batch_id = recorded(decisions(["A", "B"], probabilities=[0.9, None]))
    answer = client.get(f"/api/v1/batches/{batch_id}")
    assert answer.status_code == 200
    assert answer.json["counts"] == {"rows": 2, "scored": 1, "failed": 1}
    assert answer.json["summary"] == {"rows": 2}
    unknown = client.get("/api/v1/batches/" + "0" * 32)
    assert (unknown.status_code, unknown.mimetype, unknown.json["code"]) == (404, "application/problem+json",
                                                                             "batch-not-found")
    purge(db_app.extensions["database"], months_before(datetime.now(UTC), -25) + timedelta(minutes=1),
          store=records_store(db_app))
    gone = client.get(f"/api/v1/batches/{batch_id}")
    assert (gone.status_code, gone.json["code"]) == (410, "batch-purged")


def test_the_record_needs_a_key_or_a_sign_in(db_app, recorded):
    assert db_app.test_client().get("/api/v1/batches").status_code == 401
    assert db_app.test_client().get("/batches").status_code in (302, 303)
    assert auditor(db_app).get("/api/v1/batches").status_code == 200


def test_the_batches_page_lists_batches_with_their_counts(db_app, recorded):
    batch_id = recorded(decisions(["A", "B"]), input_name="march.csv")
    hold(db_app.extensions["database"], batch_id, "exam")
    page = auditor(db_app).get("/batches")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "march.csv" in html and batch_id in html and "on hold" in html and "<script" not in html


def test_the_batches_page_links_a_batch_to_its_result_while_it_lasts_and_only_for_its_owner(db_app):
    import io
    import re

    ann = signed_in_client(db_app, "ann@bank.example", "analyst")
    body = factories.applications(3).to_csv(index=False).encode()
    uploaded = ann.post("/", data={"file": (io.BytesIO(body), "a.csv")}, content_type="multipart/form-data")
    token = re.search(r"/results/([A-Za-z0-9_-]{43})", uploaded.headers["Location"])[1]
    assert f"/results/{token}" in ann.get("/batches").get_data(as_text=True)
    assert f"/results/{token}" not in auditor(db_app).get("/batches").get_data(as_text=True)  # not theirs to open
    results = db_app.extensions["results"]
    results.clock = lambda: 10 ** 12  # long after the result's time to live
    assert f"/results/{token}" not in ann.get("/batches").get_data(as_text=True)


def test_the_lookup_page_shows_each_decision_with_reasons_and_inputs(db_app, recorded):
    recorded(decisions(["LP9", "LP8"], probabilities=[0.3, 0.9]))
    client = auditor(db_app)
    assert 'name="loan_id"' in client.get("/lookup").get_data(as_text=True)
    html = client.get("/lookup?loan_id=LP9").get_data(as_text=True)
    assert "1 decision(s) for LP9" in html and "CREDIT_HISTORY" in html and "ApplicantIncome" in html
    assert "No decision for nobody" in client.get("/lookup?loan_id=nobody").get_data(as_text=True)


def test_the_lookup_page_finds_an_id_as_typed_and_without_the_spaces_around_it(db_app, recorded):
    recorded(decisions([" LP7 ", "LP7"]))
    client = auditor(db_app)
    assert "2 decision(s)" in client.get("/lookup?loan_id=%20LP7%20").get_data(as_text=True)  # both spellings
    assert "1 decision(s)" in client.get("/lookup?loan_id=LP7%20").get_data(as_text=True)  # pasted with a space
    assert [d["row"] for d in client.get("/api/v1/decisions?loan_id=%20LP7%20").json["decisions"]] == [1]  # exact


def test_an_analyst_sees_only_their_own_records_and_anothers_answer_404(db_app, recorded):
    mine = recorded(decisions(["LP9"]), actor="ann@bank.example")
    theirs = recorded(decisions(["LP9"]), actor="bob@bank.example")
    ann = signed_in_client(db_app, "ann@bank.example", "analyst")
    assert ann.get(f"/api/v1/batches/{mine}").status_code == 200
    assert ann.get(f"/api/v1/batches/{theirs}").status_code == 404
    assert [b["batch_id"] for b in ann.get("/api/v1/batches").json["batches"]] == [mine]
    assert [b["batch_id"] for b in ann.get("/api/v1/batches?actor=bob@bank.example").json["batches"]] == [mine]
    assert [d["batch_id"] for d in ann.get("/api/v1/decisions?loan_id=LP9").json["decisions"]] == [mine]
    assert theirs not in ann.get("/lookup?loan_id=LP9").get_data(as_text=True)


def test_a_newcomer_given_a_retired_leavers_address_sees_none_of_the_leavers_records(db_app, recorded):
    from webapp.accounts import services

    leaver = signed_in_client(db_app, "ann@bank.example", "analyst")
    theirs = recorded(decisions(["LP9"]), actor="ann@bank.example")
    with db_app.extensions["database"].session() as s:
        services.retire_user(s, "ann@bank.example", actor="admin@bank.example")
    assert leaver.get("/api/v1/batches").status_code == 401  # the leaver's key is revoked
    newcomer = signed_in_client(db_app, "ann@bank.example", "analyst")  # a new account for the address
    assert newcomer.get(f"/api/v1/batches/{theirs}").status_code == 404
    assert newcomer.get("/api/v1/batches").json["batches"] == []
    assert newcomer.get("/api/v1/decisions?loan_id=LP9").json["decisions"] == []
    record = factories.applications(1).to_dict(orient="records")[0]
    mine = newcomer.post("/api/v1/score", json=record).json["summary"]["batch_id"]
    assert [b["batch_id"] for b in newcomer.get("/api/v1/batches").json["batches"]] == [mine]
    actors = {b["batch_id"]: b["actor"] for b in auditor(db_app).get("/api/v1/batches").json["batches"]}
    assert actors == {theirs: "ann@bank.example", mine: "ann@bank.example#2"}  # the record never mixes them


def test_a_purged_batch_answers_410_to_its_owner_and_those_who_see_every_batch_404_to_others(db_app, recorded):
    from datetime import datetime, timedelta

    batch_id = recorded(decisions(["LP9"]), actor="bob@bank.example")
    purge(db_app.extensions["database"], months_before(datetime.now(UTC), -25) + timedelta(minutes=1),
          store=records_store(db_app))
    ann = signed_in_client(db_app, "ann@bank.example", "analyst")
    assert ann.get(f"/api/v1/batches/{batch_id}").status_code == 404  # never "it existed, and when it went"
    assert ann.get(f"/api/v1/batches/{batch_id}/notices.csv").status_code == 404
    assert auditor(db_app).get(f"/api/v1/batches/{batch_id}").status_code == 410
    bob = signed_in_client(db_app, "bob@bank.example", "analyst")
    assert bob.get(f"/api/v1/batches/{batch_id}").status_code == 410  # their own: gone, not unknown


def test_an_archive_that_cannot_be_read_answers_503_never_a_partial_record(db_app, recorded, monkeypatch, tmp_path):
    from webapp.records import export

    monkeypatch.setattr("webapp.records.archive.INLINE_BYTES", 0)  # into the store as a file
    kept, lost = recorded(decisions(["LP9"])), recorded(decisions(["LP9"]))
    next((Path(records_store(db_app))).glob(f"{lost}.*")).unlink()
    client = auditor(db_app)
    answer = client.get("/api/v1/decisions?loan_id=LP9")
    assert (answer.status_code, answer.mimetype, answer.json["code"]) == (503, "application/problem+json",
                                                                          "records-store-unavailable")
    assert lost in answer.json["detail"] and kept not in answer.json["detail"]
    assert client.get("/lookup?loan_id=LP9").status_code == 503
    assert client.get(f"/api/v1/batches/{lost}/notices.csv").status_code == 503
    with pytest.raises(ArchiveUnavailable):
        export(db_app.extensions["database"], date(2000, 1, 1), "csv", str(tmp_path / "out.csv"),
               store=records_store(db_app))
