"""Work stops when the client is gone: a progress callback for the scoring service that checks,
after each chunk, whether the request's connection has been closed by the other side — so an
abandoned upload frees its worker instead of scoring to the end (its batch is marked failed)."""
from __future__ import annotations

import select
import socket
from collections.abc import Callable

from flask import Response, request

CLIENT_CLOSED = 499  # nginx's "client closed request": nobody reads this answer


class ClientGone(Exception):
    """The client closed the connection while its request was being scored."""

    code = "client-gone"


def watch() -> Callable[[int], None] | None:
    """A progress callback raising ClientGone once the peer has hung up; None when the server gives
    no socket (Flask's test client, some servers). Only called after the whole body was read, so an
    end of file on the socket means the client closed it."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        return None

    def check(rows_done: int) -> None:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                raise ClientGone()
        except (OSError, ValueError):  # reset or closed under us: gone too
            raise ClientGone() from None

    return check


def client_gone(_error: ClientGone) -> Response:
    return Response(status=CLIENT_CLOSED)
