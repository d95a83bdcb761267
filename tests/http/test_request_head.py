"""The request head on the shipped parser (httptools, webapp/httpguard.py), on the real
server process: a head too large gets 431, one too slow (or none at all) gets 408 or a
closed connection, both within bounds; ordinary, large-but-fair and pipelined requests
are untouched. (h11 refuses heads over 16 KiB itself.)"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.http.test_serve_process import database
from tests.serving import Site, connect, read_all, statuses, trickle
from webapp.httpguard import HEAD_SECONDS, MAX_HEAD_BYTES

__all__ = ["database"]  # the fixture, imported for this file's tests
GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture
def site(database, tmp_path):
    running = Site(database, tmp_path / "site.log", http="httptools").start()
    yield running
    running.stop()
    assert "Traceback" not in running.log(), running.log()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


def test_a_head_too_large_is_refused_and_not_kept(site):
    before = rss_kib(site.proc.pid)
    sock = connect(site)
    sock.sendall(GET + b"X-Big: ")
    sent = 0
    try:
        while sent < 8 * 1024 * 1024:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass  # closed by the server: what this test expects
    answer, closed = read_all(sock, timeout=5)
    sock.close()
    assert statuses(answer) == [b"HTTP/1.1 431 Request Header Fields Too Large"], answer[:200]
    assert closed
    assert rss_kib(site.proc.pid) - before < 4 * 1024


def test_heads_that_are_large_but_fair_and_pipelined_requests_are_answered(site):
    sock = connect(site)
    cookie = b"Cookie: " + b"k=" + b"v" * (MAX_HEAD_BYTES // 2) + b"\r\n"
    sock.sendall(GET + cookie + b"\r\n" + (GET + b"\r\n") * 3)
    answer, closed = read_all(sock, timeout=3)
    if closed:
        sock.close()
    # (bodies do not end in CRLF, so each status line after the first follows a body)
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 4, answer[:300]
    assert not closed  # still kept alive
    sock.sendall(GET + b"\r\n")  # and used again
    again, _ = read_all(sock, timeout=3)
    sock.close()
    assert statuses(again) == [b"HTTP/1.1 200 OK"]


def test_a_slow_head_or_a_silent_connection_is_closed_in_time(site):
    trickler = connect(site)
    trickler.sendall(GET + b"X-Slow: ")
    after_a_request = connect(site)  # a kept-alive connection whose next head trickles
    after_a_request.sendall(GET + b"\r\n")
    assert statuses(read_all(after_a_request, timeout=1)[0]) == [b"HTTP/1.1 200 OK"]
    after_a_request.sendall(GET + b"X-Slow: ")
    silent = connect(site)
    started = time.monotonic()
    stop = threading.Event()
    for sock in (trickler, after_a_request):
        threading.Thread(target=trickle, args=(sock, stop), daemon=True).start()
    results = {}

    def wait(name: str, sock: socket.socket) -> None:
        results[name] = (*read_all(sock, timeout=HEAD_SECONDS + 10), time.monotonic() - started)

    clients = [("trickler", trickler), ("after", after_a_request), ("silent", silent)]
    waiting = [threading.Thread(target=wait, args=client) for client in clients]
    for thread in waiting:
        thread.start()
    for thread in waiting:
        thread.join()
    stop.set()
    for sock in (trickler, after_a_request, silent):
        sock.close()
    for name in ("trickler", "after"):
        answer, closed, took = results[name]
        assert statuses(answer) == [b"HTTP/1.1 408 Request Timeout"], (name, answer[:200])
        assert closed and took < HEAD_SECONDS + 3, (name, took)
    answer, closed, took = results["silent"]
    assert closed and took < HEAD_SECONDS + 3, took
