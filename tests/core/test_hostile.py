"""Hostile and messy inputs: each gets the right 4xx or a correctly scored file, never a 500."""
import contextlib
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import CORPUS, far_cell_xls, one_long_id_parquet, one_long_id_xlsx, run_with_memory_limit, upload
from webapp.core.errors import InputError
from webapp.core.limits import Limits
from webapp.core.reading import open_table
from webapp.core.scoring import score


@contextlib.contextmanager
def watchdog(seconds: int):
    """Fail instead of hanging: a guard, not a timing assertion."""
    def expire(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize(("build", "expected"), [(b, e) for _, b, e in CORPUS], ids=[n for n, _, _ in CORPUS])
def test_hostile_input_through_the_api(client, build, expected):
    with watchdog(30):
        response = client.post("/api/v1/score?format=json", **build())
    assert response.status_code in expected, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json" and response.json["detail"]
    else:
        body = response.json
        assert body["summary"]["rows"] == len(body["predictions"]) >= 1
        for prediction in body["predictions"]:
            assert (prediction["Error"] is None) != (prediction["Approval_Probability"] is None)


def test_formula_payloads_are_defused_in_csv_answers(client):
    build = dict((n, b) for n, b, _ in CORPUS)["formula-injection"]
    text = client.post("/api/v1/score?format=csv", **build()).get_data(as_text=True)
    assert "\"'=cmd|" in text and "\"'@SUM(1+1)\"" in text


def test_the_five_megabyte_field_is_reported_not_echoed(client):
    build = dict((n, b) for n, b, _ in CORPUS)["five-mb-single-field"]
    response = client.post("/api/v1/score?format=json", **build())
    error = response.json["predictions"][0]["Error"]
    assert error == "Education: not one of Graduate, Not Graduate"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8")),
    st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12), min_size=1, max_size=14)
      .map(lambda cells: (",".join(["Loan_ID,Gender,Married,Dependents,Education,Self_Employed,ApplicantIncome,"
                                    "CoapplicantIncome,LoanAmount,Loan_Amount_Term,Credit_History,Property_Area"])
                          + "\n" + ",".join(cells) + "\n").encode()),
))
def test_readers_fuzzed_any_bytes_give_an_input_error_or_a_correct_result(loaded_model, data):
    """Any bytes in: a clean InputError, or every row out with a prediction or an error."""
    try:
        scoring = score(data, loaded_model, limits=Limits(chunk_rows=7))
        results = list(scoring)
    except InputError as error:
        assert error.message and 400 <= error.status < 500
        return
    rows = sum(len(r) for r in results)
    assert rows == scoring.summary.rows == scoring.summary.scored + scoring.summary.failed


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=4, max_size=3000).map(lambda b: b"PK\x03\x04" + b))
def test_zip_lookalikes_are_refused_cleanly(data):
    with pytest.raises(InputError):
        list(open_table(data).chunks())


REFUSED = ("import sys; from webapp.core.reading import open_table; from webapp.core.errors import InputTooLarge\n"
           "try:\n    open_table(open(sys.argv[1], 'rb'))\nexcept InputTooLarge:\n    print('refused')")


def test_an_xls_with_a_far_cell_on_every_sheet_is_refused_within_a_memory_cap(tmp_path):
    """8 sheets x one cell at IV65536: under 10 KB on disk, 4.9 GB once calamine opened it."""
    data = far_cell_xls()
    assert len(data) < 20_000
    result = run_with_memory_limit(REFUSED, data, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "refused", result.stderr[-2000:]


SCORED = ("import csv, io, sys\nfrom webapp.core.scoring import score\nfrom webapp.core.writing import write_csv\n"
          "from webapp.model.loading import load_model\n"
          "out = io.BytesIO()\nwrite_csv(score(open(sys.argv[1], 'rb').read(), load_model(sys.argv[2])), out)\n"
          "rows = list(csv.reader(io.StringIO(out.getvalue().decode())))[1:]\n"
          "print(len(rows), max(len(r[0]) for r in rows), len(out.getvalue()), rows[0][3])")


@pytest.mark.parametrize(("build", "rows"), [(lambda: one_long_id_parquet(200_000), 200_000),
                                             (lambda: one_long_id_xlsx(40_000), 40_000)], ids=["parquet", "xlsx"])
def test_one_long_value_stored_once_is_cut_once_within_a_memory_cap(model_path, tmp_path, build, rows):
    """A 20,000-character ID stored once (a Parquet dictionary page, an .xlsx shared string) and
    referenced by every row: each row fails, and the answer echoes 41 characters of it, not 20,000
    (these files took a worker to 11 GB and wrote GB-sized answers)."""
    result = run_with_memory_limit(SCORED, build(), tmp_path, str(model_path))
    assert result.returncode == 0, result.stderr[-2000:]
    scored, longest_id, answer_bytes, error = result.stdout.split(maxsplit=3)
    assert int(scored) == rows and int(longest_id) == 41 and int(answer_bytes) < rows * 150
    assert error.strip() == "Loan_ID: longer than 1000 characters"


def test_no_answer_echoes_more_than_forty_characters_of_an_overlong_id(client):
    response = client.post("/api/v1/score?format=json", **upload(one_long_id_xlsx(3), "ids.xlsx"))
    assert [p["Loan_ID"] for p in response.json["predictions"]] == ["L" * 40 + "…"] * 3
