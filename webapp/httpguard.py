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

It also sends each response in one write. uvicorn writes a response's head as soon as the
app starts the response and its body separately: two packets, and the client woken twice,
for a page of a few kilobytes. Here a response's head waits for the first bytes of its body
and goes with them, never longer than the event loop's current turn (so a body that comes
later, a stream, does not hold the head back); 1xx answers ("100 Continue") go at once.
With the load generator sharing the CPUs this made the home page ~10-20% faster, since the
client does half the reads (figures in `make bench`).

And it writes a head the page cache prepared (webapp.wirehead) as it is, instead of
encoding its header list again for every response.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from webapp.wirehead import PREPARED, Prepared

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
        if self.cycle is not None:  # this request's answer: its head goes with its body
            self.cycle.transport = cast(Any, OneWriteTransport(self.transport, self.loop))
            # uvicorn makes its cycle itself; this one is given the send that takes a
            # prepared head (its task has not run yet, so every send is that one).
            self.cycle.__class__ = PreparedHeadCycle

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle is not None and isinstance(cycle.transport, OneWriteTransport):
            cycle.transport.flush()  # a head with no body (HEAD): it goes now
        super().on_response_complete()


class PreparedHeadCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, writing a prepared head (webapp.wirehead) as it is.

    Everything else is uvicorn's: a message without one, the body, the response's end."""

    _defaults: tuple[list[tuple[bytes, bytes]] | None, bytes] = (None, b"")

    async def send(self, message: Any) -> None:
        prepared: Prepared | None = message.get(PREPARED)
        if (
            prepared is None
            or self.response_started
            or message["type"] != "http.response.start"
            or (prepared[1] is None and message["status"] not in (204, 304))
        ):
            await super().send(message)
            return
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        block, length = prepared
        if length is not None:
            self.expected_content_length = length
            self.chunked_encoding = False
        head = [STATUS_LINE[message["status"]], self._default_lines(), block]
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self.transport.write(b"".join(head))

    def _default_lines(self) -> bytes:
        """The server's own headers (the date, changed once a second by a new list)."""
        listed, lines = PreparedHeadCycle._defaults
        if listed is not self.default_headers:
            lines = b"".join(n.lower() + b": " + v + b"\r\n" for n, v in self.default_headers)
            PreparedHeadCycle._defaults = (self.default_headers, lines)
        return lines


class OneWriteTransport:
    """The connection as one response sees it: the response's head is held until its
    body's first bytes (or the end of the loop's turn, or the response's end) and written
    with them, in one write."""

    __slots__ = ("_transport", "_loop", "_head")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.writelines((head, data))
        elif data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 1"):
            self._head = data  # a final answer's head (uvicorn writes it in one piece)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write a head still held (no body came in this turn of the loop)."""
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():  # (a client gone needs no head)
                self._transport.write(head)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()
