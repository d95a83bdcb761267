"""The site's own access line: uvicorn's text, no query string, whole lines per write."""

from __future__ import annotations

import asyncio
import io
import os

from webapp.accesslog import CHUNK, AccessLog, AccessLogMiddleware


def scope(path: str = "/clinic", query: bytes = b"", client=("127.0.0.1", 51234)) -> dict:
    return {"type": "http", "method": "GET", "path": path, "query_string": query,
            "http_version": "1.1", "client": client, "headers": []}  # fmt: skip


def test_the_line_reads_as_uvicorns_without_the_query_string():
    stream = io.StringIO()
    log = AccessLog(stream, log_client_address=True)
    log.line(scope("/staff", b"q=Jane+Doe&status=new"), 200)  # no loop: written at once
    log.line(scope("/caf\u00e9 menu", client=None), 404)
    assert stream.getvalue().splitlines() == [
        'INFO:     127.0.0.1:51234 - "GET /staff HTTP/1.1" 200 OK',
        'INFO:      - "GET /caf%C3%A9%20menu HTTP/1.1" 404 Not Found',
    ]
    assert "Jane" not in stream.getvalue()


def test_lines_wait_for_the_loops_next_turn_and_are_written_in_whole_lines(tmp_path):
    path = tmp_path / "access.log"
    with path.open("w") as stream:
        log = AccessLog(stream, log_client_address=True)

        async def burst() -> None:
            for index in range(500):
                log.line(scope(f"/articles/{'x' * (index % 40)}"), 200)
            assert path.read_text() == ""  # not yet: one write per turn of the loop
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        asyncio.run(burst())
    lines = path.read_text().splitlines()
    assert len(lines) == 500
    assert all(line.startswith('INFO:     127.0.0.1:51234 - "GET /articles/') for line in lines)
    assert CHUNK >= 512


def test_the_middleware_logs_each_response_once_with_its_status():
    read, write = os.pipe()
    with os.fdopen(write, "w") as stream:
        log = AccessLog(stream, log_client_address=True)

        async def app(scope, receive, send) -> None:
            await send({"type": "http.response.start", "status": 303, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def main() -> None:
            async def receive() -> dict:
                return {"type": "http.request", "body": b""}

            async def send(message: dict) -> None:
                pass

            await AccessLogMiddleware(app, log)(scope("/consultation"), receive, send)
            await asyncio.sleep(0)

        asyncio.run(main())
    with os.fdopen(read) as pipe:
        assert (
            pipe.read()
            == 'INFO:     127.0.0.1:51234 - "GET /consultation HTTP/1.1" 303 See Other\n'
        )


def test_the_line_follows_the_privacy_rule_by_default():
    stream = io.StringIO()
    AccessLog(stream).line(scope("/consultation/done/AKI-7F3K2", b"ref=AKI-7F3K2"), 200)
    AccessLog(stream).line(scope("/consultation/done/aki-7f3k2 x"), 200)
    AccessLog(stream).line(scope("/staff/q?Jane"), 404)  # a decoded %3F: the rest is dropped
    assert stream.getvalue().splitlines() == [
        'INFO:     - - "GET /consultation/done/AKI-????? HTTP/1.1" 200 OK',
        'INFO:     - - "GET /consultation/done/AKI-?????%20x HTTP/1.1" 200 OK',
        'INFO:     - - "GET /staff/q HTTP/1.1" 404 Not Found',
    ]
    assert "127.0.0.1" not in stream.getvalue() and "7F3K2" not in stream.getvalue().upper()
