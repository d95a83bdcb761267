"""The request head, bounded in size and in time, on the httptools parser.

The request guard (webapp/server.py) bounds what the app sees; what comes before it is
uvicorn's. With h11, a head larger than 16 KiB is refused, but httptools keeps whatever
a client sends as one header, without limit (12 MB held in memory for one connection, in
a test), and neither parser has a time limit on the head: a client sending its headers a
byte a second, or connecting and saying nothing, keeps its connection as long as it likes.

This protocol is uvicorn's httptools one with both limits: a head (request line and
headers) over `MAX_HEAD_BYTES` gets 431 and its connection closed; a head not complete
within `HEAD_SECONDS` of its first byte (or of the connection, for the first request)
gets 408 and its connection closed. Between requests, uvicorn's keep-alive timeout applies
as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
HEAD_SECONDS = 10.0
TOO_LARGE = b"431 Request Header Fields Too Large: the request's headers are too large\n"
TOO_SLOW = b"408 Request Timeout: the request's headers took too long to arrive\n"


def _refusal(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + text
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time limit on each request's head."""

    NAME = "httptools"  # what the start-up line calls it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def _start_head_clock(self) -> None:
        self._stop_head_clock()
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, answer: bytes) -> None:
        self._stop_head_clock()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self._in_head:
            return
        if self.cycle is None or self.cycle.response_complete:
            self._refuse(_refusal(b"408 Request Timeout", TOO_SLOW))
        else:  # a pipelined head behind a request still being answered: answer that first
            self._start_head_clock()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()  # a connection that never says anything is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counted = self._in_head  # a chunk that began inside a head
        super().data_received(data)
        if counted and self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(_refusal(b"431 Request Header Fields Too Large", TOO_LARGE))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._start_head_clock()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_clock()
        super().on_headers_complete()
