"""Each response in one write (webapp/httpguard.py, OneWriteTransport): the head goes with
the body's first bytes, never later than the loop's current turn; 1xx answers go at once.

The protocol runs in-process on a transport that records every write, so what the client
would receive, and in how many writes, is exact."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn
from uvicorn.server import ServerState

from tests.helpers import RecordingTransport
from webapp.httpguard import GuardedHttpToolsProtocol, OneWriteTransport


async def answer(scope, receive, send) -> None:
    """Two bodies of a few bytes; `/stream` waits before its first chunk; a request with a
    body reads it first (so Expect: 100-continue is answered)."""
    if scope["method"] == "POST":
        message = await receive()
        assert message["body"] == b"hello"
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"late", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b"body of " + scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def settle(protocol) -> None:
    """Let the request's task run to its end."""
    for _ in range(50):
        await asyncio.sleep(0.001)
        if protocol.cycle is None or protocol.cycle.response_complete:
            await asyncio.sleep(0)
            return


@pytest.fixture
def protocol_and_transport():
    async def make():
        config = uvicorn.Config(answer, http=GuardedHttpToolsProtocol, log_level="warning")
        protocol = GuardedHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
        transport = RecordingTransport()
        protocol.connection_made(transport)
        return protocol, transport

    return make


@pytest.mark.anyio
async def test_a_response_is_one_write_head_and_body_together(protocol_and_transport):
    protocol, transport = await protocol_and_transport()
    protocol.data_received(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle(protocol)
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == b"body of /page"
    protocol.connection_lost(None)


@pytest.mark.anyio
async def test_pipelined_requests_are_answered_in_order_one_write_each(protocol_and_transport):
    protocol, transport = await protocol_and_transport()
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    for _ in range(2):
        await settle(protocol)
    assert len(transport.writes) == 2
    assert transport.writes[0].endswith(b"body of /a")
    assert transport.writes[1].endswith(b"body of /b")
    protocol.connection_lost(None)


@pytest.mark.anyio
async def test_a_head_without_a_body_is_sent_when_the_response_ends(protocol_and_transport):
    protocol, transport = await protocol_and_transport()
    protocol.data_received(b"HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle(protocol)
    assert transport.one_head_alone()
    protocol.connection_lost(None)


@pytest.mark.anyio
async def test_a_stream_gets_its_head_at_once_not_with_its_late_first_chunk(
    protocol_and_transport,
):
    protocol, transport = await protocol_and_transport()
    protocol.data_received(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.02)  # the app is waiting before its first chunk
    assert transport.one_head_alone()
    await asyncio.sleep(0.1)
    assert b"late" in transport.received()
    assert transport.received().endswith(b"0\r\n\r\n")  # chunked, ended
    protocol.connection_lost(None)


@pytest.mark.anyio
async def test_100_continue_goes_at_once_and_the_answer_after_it(protocol_and_transport):
    protocol, transport = await protocol_and_transport()
    protocol.data_received(
        b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    await asyncio.sleep(0.01)  # the app waits for the body: the client is told to send it
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    protocol.data_received(b"hello")
    await settle(protocol)
    assert len(transport.writes) == 2
    assert transport.writes[1].startswith(b"HTTP/1.1 200 OK")
    assert transport.writes[1].endswith(b"body of /form")
    protocol.connection_lost(None)


@pytest.mark.anyio
async def test_closing_sends_a_held_head_first_and_a_closed_connection_gets_nothing():
    transport = RecordingTransport()
    held = OneWriteTransport(transport, asyncio.get_running_loop())
    held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    assert transport.writes == []
    held.close()
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]
    assert transport.closed

    gone = RecordingTransport()
    held = OneWriteTransport(gone, asyncio.get_running_loop())
    held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    gone.closed = True  # the client went away before the body
    await asyncio.sleep(0)  # the end of the loop's turn
    assert gone.writes == []
