"""`serve --workers 2` under faults, as real processes: the supervisor killed outright, and
SIGTERM while clients trickle bodies to each worker (tests/http/test_workers.py has the
ordinary cases; this file reuses its fixtures)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from urllib.parse import urlencode

import pytest

from tests.helpers import form
from tests.http.test_workers import _alive, _cmdline, children, database, rows, site
from tests.serving import Site, aged_token, trickle

__all__ = ["database", "site"]  # the fixtures, imported for this file's tests
pytestmark = pytest.mark.skipif(not _alive(1), reason="needs Linux /proc")


def workers_of(running: Site) -> list[int]:
    helpers = children(running.proc.pid)
    return [pid for pid in helpers if b"resource_tracker" not in _cmdline(pid)]


def test_workers_end_when_their_supervisor_is_killed(site):
    """kill -9 of the supervisor (an OOM kill, an operator's mistake) must not leave its
    workers serving alone, holding the port and the database: a restart would find the port
    taken, and a restore would be refused with no server to stop."""
    workers = workers_of(site)
    assert len(workers) == 2
    site.signal(signal.SIGKILL)
    site.wait(timeout=10)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:  # this test's own processes: the log pipe closes, teardown ends
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "workers outlived their supervisor"
    with socket.socket() as sock:  # the port is free for the next start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", site.port))


def test_sigterm_with_trickling_clients_on_both_workers_ends_within_15_seconds(site, database):
    """Two trickling bodies on each worker and one complete request: SIGTERM ends the parent
    and both workers within 15 s, and the complete request is answered and stored."""
    tricklers = []
    for _ in range(8):
        sock = socket.create_connection(("127.0.0.1", site.port), timeout=30)
        sock.sendall(
            b"POST /consultation HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        tricklers.append(sock)
    stop = threading.Event()
    for sock in tricklers:
        threading.Thread(target=trickle, args=(sock, stop), daemon=True).start()
    workers = workers_of(site)
    time.sleep(0.5)
    complete = socket.create_connection(("127.0.0.1", site.port), timeout=30)
    body = urlencode(form(aged_token())).encode()
    complete.sendall(
        b"POST /consultation HTTP/1.1\r\nHost: 127.0.0.1\r\nHX-Request: true\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    signalled = time.monotonic()
    site.signal(signal.SIGTERM)
    answer = complete.recv(65536)
    site.wait(timeout=20)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    took = time.monotonic() - signalled
    stop.set()
    for sock in [*tricklers, complete]:
        sock.close()
    assert took < 15, f"SIGTERM took {took:.1f} s"
    assert not [pid for pid in workers if _alive(pid)]
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert len(rows(database)) == 1
