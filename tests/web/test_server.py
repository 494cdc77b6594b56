"""A real gunicorn process and a real curl: what the test client hides (multipart parsing by a
real server, streaming of the answer, worker processes sharing the model)."""
import csv
import io
import json
import re
import shutil
import subprocess

import pytest

from tests import factories

pytestmark = [pytest.mark.server,
              pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")]


@pytest.fixture(autouse=True)
def key(live_server):
    global KEY
    KEY = live_server.api_key


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "60", "-H", f"Authorization: Bearer {KEY}", *args],
                          capture_output=True, timeout=90)


def test_multipart_upload_with_curl_answers_the_csv(live_server, tmp_path):
    source = tmp_path / "applicants.csv"
    frame = factories.applications(300, seed=5).astype(object)
    frame.loc[7, "Property_Area"] = "Mars"
    frame.to_csv(source, index=False)
    out = tmp_path / "predictions.csv"
    result = curl("-F", f"file=@{source}", "-D", "-", "-o", str(out), f"{live_server}/api/v1/score")
    headers = result.stdout.decode().lower()
    assert "200 ok" in headers.splitlines()[0] or " 200" in headers.splitlines()[0]
    assert 'content-disposition: attachment; filename="applicants-predictions.csv"' in headers
    assert "x-rows-failed: 1" in headers
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["Loan_ID"] for r in rows] == frame["Loan_ID"].tolist()
    assert rows[7]["Error"].startswith("Property_Area:") and rows[8]["Loan_Status"] in ("Y", "N")


def test_raw_csv_and_json_through_the_real_server(live_server, tmp_path):
    source = tmp_path / "a.csv"
    factories.applications(3).to_csv(source, index=False)
    as_csv = curl("-H", "Content-Type: text/csv", "--data-binary", f"@{source}", f"{live_server}/api/v1/score")
    assert as_csv.stdout.decode().startswith("Loan_ID,Loan_Status,Approval_Probability,Error")
    body = factories.applications(2).to_json(orient="records")
    as_json = curl("-H", "Content-Type: application/json", "-d", body, f"{live_server}/api/v1/score")
    assert len(json.loads(as_json.stdout)["predictions"]) == 2


def test_no_content_type_is_a_problem_not_a_500(live_server):
    result = curl("-X", "POST", "--data-binary", "x", "-H", "Content-Type:", "-w", "%{http_code}",
                  f"{live_server}/api/v1/score")
    assert result.stdout.decode().endswith("415")


def test_the_access_log_holds_routes_not_tokens_or_credentials(live_server):
    import base64
    import time
    import urllib.error
    import urllib.request

    token = "T" * 43
    secret = base64.b64encode(b"api-key-in-basic-auth:").decode()
    request = urllib.request.Request(f"{live_server}/results/{token}?x=1", headers={"Authorization": f"Basic {secret}"})

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError):  # signed out: sent to the sign-in page, not followed
        urllib.request.build_opener(NoRedirects).open(request, timeout=10)
    time.sleep(0.5)
    log = live_server.log_path.read_text()
    assert re.search(r'"GET /results/<token> HTTP/1.1" 30[23]', log)
    assert token not in log and "api-key-in-basic-auth" not in log


def test_an_abandoned_upload_stops_at_the_next_chunk_and_its_batch_is_failed(live_server, tmp_path):
    """The client sends a large file and hangs up: the worker stops scoring (batch failed,
    reason client-gone) instead of scoring every row for nobody."""
    import socket
    import time
    import urllib.parse
    import urllib.request

    import pandas as pd

    frame = pd.concat([factories.applications(1000, seed=7)] * 400, ignore_index=True)
    frame["Loan_ID"] = [f"GONE{i:07d}" for i in range(len(frame))]
    body = frame.to_csv(index=False).encode()
    url = urllib.parse.urlsplit(live_server)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(f"POST /api/v1/score HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: text/csv\r\n"
                     f"Authorization: Bearer {live_server.api_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                     + body)
        time.sleep(0.3)  # the body is in; hang up while it is being scored
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{live_server}/api/v1/batches?per_page=20", timeout=10) as response:
            batches = json.load(response)["batches"]
        gone = [b for b in batches if b["input"]["size"] == len(body)]
        if gone and gone[0]["status"] != "running":
            break
        time.sleep(0.5)
    assert gone and gone[0]["status"] == "failed" and gone[0]["failure_reason"] == "client-gone"
    assert gone[0]["counts"]["rows"] < len(frame)


def test_a_large_batch_under_gevent_is_recorded_whole(live_server):
    """Under gevent workers the record's writer runs on a native thread of the hub's pool (a
    greenlet would not overlap scoring): the batch still completes with every row, in order."""
    import urllib.request

    import pandas as pd

    frame = pd.concat([factories.applications(1000, seed=9)] * 150, ignore_index=True)
    frame["Loan_ID"] = [f"BIG{i:07d}" for i in range(len(frame))]
    request = urllib.request.Request(f"{live_server}/api/v1/score", data=frame.to_csv(index=False).encode(),
                                     headers={"Content-Type": "text/csv"}, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        batch_id = response.headers["X-Batch-Id"]
        assert response.read().count(b"\n") == len(frame) + 1
    with urllib.request.urlopen(f"{live_server}/api/v1/batches/{batch_id}", timeout=10) as response:
        batch = json.load(response)
    assert batch["status"] == "complete" and batch["counts"]["rows"] == len(frame)
    with urllib.request.urlopen(f"{live_server}/api/v1/decisions?loan_id=BIG0149999", timeout=10) as response:
        assert [d["row"] for d in json.load(response)["decisions"]] == [len(frame)]
