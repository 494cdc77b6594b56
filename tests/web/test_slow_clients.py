"""Slow clients do not lock out everyone else: with forty connections trickling an upload body and
forty trickling their headers, the default server (gunicorn.conf.py, as `make run` starts it) still
answers `/healthz` and a small authenticated upload within 2 s. Bounded: about 30 s in all."""
from __future__ import annotations

import http.client
import socket
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from tests import factories

pytestmark = pytest.mark.server

SLOW_CLIENTS = 40  # of each kind
HOLD_SECONDS = 12  # how long they trickle before the checks end
ANSWER_WITHIN = 2.0  # seconds: the functional bound, not a performance target


def _trickle(port: int, at_once: bytes, trickled: bytes, stop: threading.Event, opened: list) -> None:
    """Send `at_once`, then `trickled` a byte a second, until `stop` (the server may hang up)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            opened.append(sock)
            sock.sendall(at_once)
            for byte in trickled:
                if stop.wait(1.0):
                    return
                sock.sendall(bytes([byte]))
    except OSError:
        pass  # a server that times a slow client out is doing its job


def _slow_body(host: str, api_key: str) -> tuple[bytes, bytes]:
    """An authenticated upload whose headers arrive at once, announcing a 1 MB body that then comes
    a byte a second: someone uploading a large file over a slow VPN (the app reads that body)."""
    head = (f"POST /api/v1/score HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {api_key}\r\n"
            f"Content-Type: text/csv\r\nContent-Length: 1000000\r\n\r\n").encode()
    return head, b"x" * 200


def _slow_headers(host: str) -> tuple[bytes, bytes]:
    """A request whose header lines never finish arriving."""
    return b"", f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: {'a' * 200}".encode()


def _small_upload(live_server) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    rows = factories.applications(3, seed=11).to_csv(index=False).encode()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"few.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode() + rows + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _timed(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, seconds) on a fresh connection; a timeout counts as no answer in the bound."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_WITHIN + 3)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    except OSError:
        return None, time.monotonic() - started
    finally:
        connection.close()


@pytest.fixture
def slow_clients(live_server):
    """Forty slow bodies and forty slow headers, all connected before the test body runs."""
    url = urlsplit(live_server)
    host, port = url.netloc, url.port
    stop, opened = threading.Event(), []
    requests = [_slow_body(host, live_server.api_key)] * SLOW_CLIENTS + [_slow_headers(host)] * SLOW_CLIENTS
    threads = [threading.Thread(target=_trickle, args=(port, at_once, trickled, stop, opened), daemon=True)
               for at_once, trickled in requests]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(opened) < len(threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3)  # every slow client has sent a few bytes: each would now hold a worker thread
    yield port
    stop.set()
    for thread in threads:
        thread.join(timeout=5)


def test_health_and_a_small_upload_answer_while_eighty_slow_clients_hold_connections(live_server, slow_clients):
    port = slow_clients
    body, content_type = _small_upload(live_server)
    auth = {"Authorization": f"Bearer {live_server.api_key}"}
    answers = []
    finish = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < finish:
        answers.append(("healthz",) + _timed(port, "GET", "/healthz"))
        answers.append(("upload",) + _timed(port, "POST", "/api/v1/score", body,
                                            {**auth, "Content-Type": content_type, "Accept": "text/csv"}))
        time.sleep(0.5)
    late = [a for a in answers if a[1] != 200 or a[2] > ANSWER_WITHIN]
    assert len(answers) >= 8 and not late, late
