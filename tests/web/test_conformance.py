"""HTTP as a strict client checks it: schemathesis against the live /openapi.json of a real
gunicorn, every check but the two that contradict per-row errors by design (a valid-looking file
can still fail validation row by row and be answered 200; an invalid one can still be scored)."""
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.server
BY_DESIGN = "positive_data_acceptance,negative_data_rejection"


def test_schemathesis_finds_nothing(live_server, tmp_path):
    st = Path(sys.executable).with_name("st")
    command = [str(st), "run", f"{live_server}/openapi.json", "--checks", "all", "--exclude-checks", BY_DESIGN,
               "--exclude-tag", "pages",  # HTML for people (CSRF-protected form): not an API contract
               "--max-examples", "60", "--seed", "20261124", "--workers", "1", "--generation-database", "none",
               "--no-color", "--request-timeout", "30", "--header", f"Authorization: Bearer {live_server.api_key}"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/v1/model", "/metrics", "/", "/model"])
def test_every_405_lists_the_allowed_methods(live_server, path):
    request = urllib.request.Request(f"{live_server}{path}", method="TRACE")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    with caught.value as answer:  # closes the connection it holds
        assert answer.code == 405 and "GET" in answer.headers["Allow"]
        machine = path not in ("/", "/model")
        assert (answer.headers["Content-Type"] == "application/problem+json") == machine


def test_csv_answers_name_their_charset_once(live_server):
    request = urllib.request.Request(f"{live_server}/api/v1/template.csv")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
