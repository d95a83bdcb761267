"""The real server process (`python -m webapp serve`) on both uvicorn HTTP parsers, h11 and
httptools: request smuggling refused, a trickled body cut off, SIGTERM bounded whatever the
clients do, and requests that were complete still answered."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.helpers import form
from tests.serving import Site, aged_token, connect, read_all, statuses, trickle
from webapp.db import migrate

IMPLEMENTATIONS = ["h11", "httptools"]
SMUGGLED = b"GET /privacy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.db"
    migrate(path)
    return path


@pytest.fixture(params=IMPLEMENTATIONS)
def site(request, database, tmp_path):
    running = Site(database, tmp_path / "site.log", http=request.param,
                   env={"REQUEST_BODY_TIMEOUT": "2"}).start()  # fmt: skip
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n",
    ],
)
def test_length_and_chunked_together_are_refused_and_nothing_is_smuggled(site, framing):
    body = b"0\r\n\r\n" + SMUGGLED
    request = (
        b"POST /consultation HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + framing % len(body)
        + b"\r\n"
        + body
    )
    with closing(connect(site)) as sock:
        sock.sendall(request)
        data, closed = read_all(sock, timeout=5)
    assert statuses(data) == [b"HTTP/1.1 400 Bad Request"], data
    assert closed, "the connection stayed open after a request with both framings"
    assert "GET /privacy" not in site.log_after_marker()


def test_a_trickled_body_is_cut_off_with_408_and_a_closed_connection(site):
    with closing(connect(site)) as sock:
        sock.sendall(
            b"POST /consultation HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        started = time.monotonic()
        answer = b""
        closed = False
        while time.monotonic() - started < 8 and not closed:
            try:
                sock.send(b"a")  # one byte every 0.2 s: 5 bytes a second, never 1000
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            more, closed = read_all(sock, timeout=0.2)
            answer += more
        if not closed:
            more, closed = read_all(sock, timeout=2)
            answer += more
        elapsed = time.monotonic() - started
    assert statuses(answer) == [b"HTTP/1.1 408 Request Timeout"], answer
    assert closed
    assert 1.5 < elapsed < 5, elapsed  # REQUEST_BODY_TIMEOUT=2 for this server


def test_sigterm_ends_the_server_within_15_seconds_whatever_clients_do(database, tmp_path):
    """Default timeouts (10 s for a body, 10 s for the graceful shutdown). Clients: one
    trickling a body, one idle on keep-alive, one half-way through its headers, and one
    complete request that is still being served (its write waits for a lock the test holds):
    that one is answered and stored; the process exits within 15 s of SIGTERM."""
    for http in IMPLEMENTATIONS:
        site = Site(database, tmp_path / f"{http}.log", http=http).start()
        try:
            trickler = connect(site)
            trickler.sendall(
                b"POST /consultation HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
            )
            idle = connect(site)
            idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert statuses(read_all(idle, timeout=1)[0]) == [b"HTTP/1.1 200 OK"]
            slow_headers = connect(site)
            slow_headers.sendall(b"GET / HTTP/1.1\r\nHost: 127.0")

            # A complete request whose write has to wait: the test holds the write lock.
            blocker = sqlite3.connect(database, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            waiting = connect(site)
            body = urlencode(form(aged_token())).encode()
            waiting.sendall(
                b"POST /consultation HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body
            )
            time.sleep(0.5)  # the server has the request and waits on the lock

            stop = threading.Event()
            threading.Thread(target=trickle, args=(trickler, stop), daemon=True).start()
            signalled = time.monotonic()
            site.signal()
            time.sleep(1)
            blocker.execute("ROLLBACK")  # the waiting request may now finish
            blocker.close()
            answer, _ = read_all(waiting, timeout=10)
            code = site.wait(timeout=20)
            took = time.monotonic() - signalled
            stop.set()
            for sock in (trickler, idle, slow_headers, waiting):
                sock.close()
        finally:
            site.stop()
        assert took < 15, f"{http}: SIGTERM took {took:.1f} s"
        # uvicorn re-raises the SIGTERM it handled once it is done: a clean end for systemd.
        assert code in (0, -signal.SIGTERM), site.log()
        assert statuses(answer) == [b"HTTP/1.1 303 See Other"], (http, answer)
        assert "Traceback" not in site.log(), site.log()
    with closing(sqlite3.connect(database)) as conn:
        # One stored request per server: the complete ones were finished, not dropped.
        assert conn.execute("SELECT count(*) FROM consultations").fetchone() == (2,)
