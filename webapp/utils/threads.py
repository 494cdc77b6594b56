"""Work on a real thread beside the caller's, whether or not the process runs under gevent.

Under gevent's monkey-patching (gunicorn's gevent workers) a `threading.Thread` is a greenlet: it
runs only when the caller yields, so CPU work that lets go of the GIL (hashing, compression) would
never overlap the caller's. There the work goes to the hub's pool of native threads instead.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable


def green() -> bool:
    """Whether this process runs under gevent's monkey-patching (gevent is imported only then)."""
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey

    return monkey.is_module_patched("threading")


class Background:
    """`work(*args)` started now on a native thread; `result()` waits for it and gives its value,
    or raises what it raised."""

    def __init__(self, work: Callable, *args):
        self._value = self._error = None
        if green():
            import gevent

            self._pooled = gevent.get_hub().threadpool.spawn(work, *args)
            return
        self._pooled = None
        self._thread = threading.Thread(target=self._run, args=(work, args), name="background", daemon=True)
        self._thread.start()

    def _run(self, work: Callable, args: tuple) -> None:
        try:
            self._value = work(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the result
            self._error = exc

    def result(self):
        if self._pooled is not None:
            return self._pooled.get()  # yields to other greenlets while the thread works
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
