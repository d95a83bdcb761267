"""A prepared head (webapp/wirehead.py) is written exactly as uvicorn writes its header list.

The site's own app runs under its httptools protocol (webapp/httpguard.py) on a transport that
records every byte. Each cached page is asked for twice, answered on the short path both
times: once as it is (the protocol writes the head the page cache prepared) and once with
the prepared head taken out of the message (uvicorn encodes the header list itself). The
bytes must be the same, but the visitor's token.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from datetime import datetime
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from tests.conftest import ET, FakeClock, make_settings
from tests.helpers import RecordingTransport
from webapp import wirehead
from webapp.app import create_app
from webapp.httpguard import GuardedHttpToolsProtocol

ARTICLE = "/articles/does-ketamine-treat-depression"
PAGES = ["/", "/articles/", ARTICLE, "/clinic", "/privacy", "/consultation", "/open-status"]
DATE = [(b"date", b"Wed, 02 Dec 2026 17:00:00 GMT")]
TOKEN = re.compile(rb'name="token" value="[^"]+"')


class Starts:
    """The app, recording its response starts; `plain` takes prepared heads out of them."""

    def __init__(self, app: Any, *, plain: bool) -> None:
        self.app = app
        self.plain = plain
        self.prepared = 0

    async def __call__(self, scope, receive, send) -> None:
        async def sent(message) -> None:
            if wirehead.PREPARED in message:
                self.prepared += 1
                if self.plain:
                    message = {k: v for k, v in message.items() if k != wirehead.PREPARED}
            await send(message)

        await self.app(scope, receive, sent)


async def exchange(app: Any, request: bytes) -> bytes:
    """What the protocol writes for one request (and whether it closed the connection)."""
    config = uvicorn.Config(app, http=GuardedHttpToolsProtocol, log_level="warning")
    state = ServerState()
    state.default_headers = DATE
    protocol = GuardedHttpToolsProtocol(config, state, {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(200):
        await asyncio.sleep(0.001)
        if protocol.cycle is not None and protocol.cycle.response_complete:
            break
    await asyncio.sleep(0)
    closed = transport.closed
    protocol.connection_lost(None)
    return transport.received() + (b"<closed>" if closed else b"")


def readable(answer: bytes) -> tuple[bytes, bytes]:
    """The head as written, and the body unzipped with its token left out."""
    head, _, body = answer.partition(b"\r\n\r\n")
    closed = body.endswith(b"<closed>")
    if b"\r\ncontent-encoding: gzip\r\n" in head:
        body = gzip.decompress(body.removesuffix(b"<closed>")) + (b"<closed>" if closed else b"")
    return head, TOKEN.sub(b"token", body)


def request(path: str, *headers: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: testserver", *headers, "", ""]
    return "\r\n".join(lines).encode()


@pytest.mark.anyio
@pytest.mark.parametrize("at", [(12, 0), (16, 30), (16, 59), (23, 0), (8, 30)])
async def test_a_prepared_head_is_the_bytes_uvicorn_writes_for_the_list(tmp_path, at):
    clock = FakeClock(datetime(2026, 12, 2, *at, tzinfo=ET))
    app = create_app(make_settings(tmp_path), clock=clock)
    prepared, plain = Starts(app, plain=False), Starts(app, plain=True)
    answered = 0
    async with app.router.lifespan_context(app):
        for path in PAGES:
            await exchange(app, request(path))  # rendered and cached by the full stack
            first = await exchange(prepared, request(path))
            etag = re.search(rb"\r\netag: (\S+)\r\n", first)
            variants = [
                request(path),
                request(path, "Accept-Encoding: gzip, br"),
                request(path, method="HEAD"),
                request(path, "Connection: close"),
                request(path, version="1.0"),
            ]
            if etag is not None:  # a page without a form: a browser that holds it gets 304
                variants.append(request(path, f"If-None-Match: {etag.group(1).decode()}"))
            for asked in variants:
                answered += 1
                ours, theirs = await exchange(prepared, asked), await exchange(plain, asked)
                assert ours.startswith(b"HTTP/1.")
                assert readable(ours) == readable(theirs), (path, asked)
    # Every answer compared came with a prepared head: the protocol's own path was tested.
    assert plain.prepared == answered
    assert prepared.prepared == answered + len(PAGES)


def test_headers_the_protocol_reads_or_refuses_are_not_prepared():
    assert wirehead.encode([(b"Content-Type", b"text/html")]) == b"content-type: text/html\r\n"
    for name, value in [
        (b"connection", b"close"),
        (b"Transfer-Encoding", b"chunked"),
        (b"x-bad", b"a\r\nb"),
        (b"bad name", b"x"),
    ]:
        with pytest.raises(wirehead.NotPreparable):
            wirehead.encode([(name, value)])
