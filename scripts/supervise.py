"""Run every line of a Procfile (`name: command`) together, as `make run` does with the server and
one job worker: their output prefixed with their name; Ctrl-C (or SIGTERM) stops them all, and when
one exits the others are stopped too. A small stand-in for honcho/foreman, with no dependency."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 20  # then SIGKILL: a worker finishing a long job must not hold the terminal forever


def read_procfile(path: str) -> list[tuple[str, str]]:
    entries = []
    with open(path, encoding="utf-8") as procfile:
        for line in procfile:
            name, sep, command = line.partition(":")
            if sep and name.strip() and not name.lstrip().startswith("#"):
                entries.append((name.strip(), command.strip()))
    return entries


def _relay(name: str, stream) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.buffer.write(f"{name:>7} | ".encode() + line)
        sys.stdout.buffer.flush()


def main(path: str = "Procfile") -> int:
    processes = []
    for name, command in read_procfile(path):
        # Their own process groups: the terminal's Ctrl-C reaches this supervisor, which stops them in order.
        process = subprocess.Popen(shlex.split(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        threading.Thread(target=_relay, args=(name, process.stdout), daemon=True).start()
        processes.append(process)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.is_set() and all(p.poll() is None for p in processes):
        stopping.wait(0.5)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return max((p.returncode or 0 for p in processes), default=0) if not stopping.is_set() else 0


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main(*sys.argv[1:]))
