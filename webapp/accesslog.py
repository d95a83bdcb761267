"""One access line per request, written cheaply.

uvicorn's own access log goes through `logging` (a record, a filter, a formatter, a write
and a flush per request): under load that costs as much as serving a cached page. The site
turns it off (webapp/server.py) and writes the same line itself:

    INFO:     127.0.0.1:51234 - "GET /clinic HTTP/1.1" 200 OK

shown as webapp.logs's rule says (`access_fields`): no query string (staff searches hold
names and email addresses), no request reference, and no client address unless
LOG_CLIENT_ADDRESS is on.
Lines are collected and written together once per turn of the event loop, each write at
most PIPE_BUF bytes of whole lines, so the lines of several worker processes sharing one
pipe never interleave mid-line.
"""

from __future__ import annotations

import asyncio
import http
import os
import select
import sys
from typing import TextIO
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.logs import HIDDEN_CLIENT, access_fields

CHUNK = getattr(select, "PIPE_BUF", 512)
_PHRASES = {int(s): f"{int(s)} {s.phrase}" for s in http.HTTPStatus}
_PATHS_KEPT = 1024


def status_text(status: int) -> str:
    """ "200 OK", as uvicorn's access formatter writes a status."""
    return _PHRASES.get(status) or f"{status} "


class AccessLog:
    """Formats access lines and writes them in batches to a stream (standard output)."""

    def __init__(self, stream: TextIO | None = None, *, log_client_address: bool = False) -> None:
        self.stream = stream
        self.log_client_address = log_client_address
        self._lines: list[str] = []
        self._paths: dict[str, str] = {}

    def _path(self, path: str) -> str:
        found = self._paths.get(path)
        if found is None:
            # The rule on the path as the app sees it, then uvicorn's quoting ('?' kept: a
            # hidden reference reads "AKI-?????"; anything after a decoded '?' is dropped).
            found = quote(access_fields("", path, log_client_address=False)[1], safe="/?")
            if len(self._paths) >= _PATHS_KEPT:
                self._paths.clear()
            self._paths[path] = found
        return found

    def line(self, scope: Scope, status: int) -> None:
        """Queue the line for a response with this status (written at the loop's next turn)."""
        client = scope.get("client")
        if not self.log_client_address:
            who = HIDDEN_CLIENT
        else:
            who = f"{client[0]}:{client[1]}" if client else ""
        text = (
            f'INFO:     {who} - "{scope["method"]} {self._path(scope["path"])}'
            f' HTTP/{scope["http_version"]}" {status_text(status)}\n'
        )
        if not self._lines:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: write at once
                self._lines.append(text)
                self.flush()
                return
        self._lines.append(text)

    def flush(self) -> None:
        """Write what is queued."""
        lines, self._lines = self._lines, []
        if not lines:
            return
        stream = self.stream or sys.stdout
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # e.g. captured by a test runner
            stream.write("".join(lines))
            stream.flush()
            return
        stream.flush()  # whatever else was written to it comes first
        chunk: list[bytes] = []
        size = 0
        for text in lines:
            data = text.encode("utf-8", "replace")
            if size + len(data) > CHUNK and chunk:
                _write_all(fd, b"".join(chunk))
                chunk, size = [], 0
            chunk.append(data)
            size += len(data)
        _write_all(fd, b"".join(chunk))


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:  # a closed or full log must not fail a response
        pass


class AccessLogMiddleware:
    """Logs each HTTP response's status line as it starts."""

    def __init__(self, app: ASGIApp, log: AccessLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.log.line(scope, message["status"])
            await send(message)

        await self.app(scope, receive, logged)
