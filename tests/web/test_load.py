"""A bounded load test against a live gunicorn on 127.0.0.1: 8 clients x 30 mixed requests."""
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from tests import factories

pytestmark = pytest.mark.server
CLIENTS, REQUESTS_EACH = 8, 30


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def mixed_requests():
    good = factories.applications(500, seed=2)
    bad = good.astype(object).copy()
    bad.loc[::7, "Gender"] = "Robot"
    good_csv, bad_csv = good.to_csv(index=False).encode(), bad.to_csv(index=False).encode()
    records = json.dumps(json.loads(good.head(20).to_json(orient="records"))).encode()
    upload_body, upload_type = multipart("good.csv", good_csv)
    return [
        ("good csv upload", upload_body, upload_type, 200, 500),
        ("raw csv with bad rows", bad_csv, "text/csv", 200, 500),
        ("json records", records, "application/json", 200, 20),
        ("junk", bytes(range(256)) * 8, "text/csv", 415, None),
        ("missing columns", b"Loan_ID,Gender\nA,Male\n", "text/csv", 422, None),
    ]


def rss_kb(pid: int) -> int:
    """Resident memory of a process and its children (the workers), in kB."""
    total = 0
    for proc in [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        for line in Path(f"/proc/{proc}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def send(base: str, kind) -> str | None:
    name, body, content_type, status, rows = kind
    request = Request(f"{base}/api/v1/score", data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urlopen(request, timeout=60) as response:
            got, headers = response.status, response.headers
            response.read()
    except HTTPError as error:
        got, headers = error.code, error.headers
        error.read()
    if got != status:
        return f"{name}: {got} instead of {status}"
    if rows is not None and headers["X-Rows-Total"] != str(rows):
        return f"{name}: {headers['X-Rows-Total']} rows instead of {rows}"
    return None


def test_eight_clients_thirty_mixed_requests_each_no_failures(live_server):
    kinds = mixed_requests()
    for kind in kinds:  # warm every worker's code path once
        send(live_server, kind)
    before = rss_kb(live_server.pid)
    jobs = [kinds[i % len(kinds)] for i in range(CLIENTS * REQUESTS_EACH)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        failures = [f for f in pool.map(lambda kind: send(live_server, kind), jobs) if f]
    after = rss_kb(live_server.pid)
    print(f"server RSS before {before / 1024:.0f} MB, after {after / 1024:.0f} MB, {len(jobs)} requests")
    assert failures == []
    # Memory settles: 240 requests must not leave the server holding much more than before.
    assert after - before < 300 * 1024, f"RSS grew from {before / 1024:.0f} MB to {after / 1024:.0f} MB"
    with urlopen(f"{live_server}/healthz", timeout=10) as response:
        assert response.status == 200
