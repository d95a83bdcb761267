"""Serving the app: the uvicorn configuration in one place, the database check before start,
and the guard every request passes first.

The guard is plain ASGI, outside everything else, so it holds whichever HTTP implementation
uvicorn runs (h11 or httptools):
- a request with both Content-Length and Transfer-Encoding is refused (400) and its
  connection closed, since two parsers may disagree on where it ends (request smuggling;
  RFC 9112 section 6.3 says to close the connection after such a request);
- control characters in the query string are refused (400): no view has to expect them;
- a request body must arrive within `body_seconds` of the request's start, else 408 and
  the connection is closed, so a client trickling bytes cannot hold a worker or a shutdown;
- a response sent before its request's body was read closes the connection, so unread
  bytes are never read as the next request and a trickling client cannot keep it open.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.clock import Clock
from webapp.db import migrate, probe_file
from webapp.settings import Settings
from webapp.storage import (
    MIN_FREE_BYTES,
    DatabaseInUse,
    Fault,
    explain,
    free_bytes,
    hold_shared_lock,
    release,
    storage_fault,
)

if TYPE_CHECKING:
    import uvicorn

# SIGTERM ends the process within this (plus the app's own shutdown, well under a second):
# complete requests get this long to finish, then whatever is left is cancelled.
GRACEFUL_SHUTDOWN_SECONDS = 10
KEEP_ALIVE_SECONDS = 5
HTTP_IMPLEMENTATIONS = ("auto", "h11", "httptools")
# The fast stack the site ships with: httptools (llhttp, C) parses HTTP and uvloop (libuv)
# runs the event loop. The guards hold on both parsers (tests/http/test_serve_process.py).
DEFAULT_HTTP = "httptools"
LOOP = "uvloop"
# C0 controls but tab, and DEL: nothing a person types into an address or a search box.
CONTROL_BYTES = frozenset([*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F])
SLOW_BODY = "The request took too long to arrive. Please send it again."
# What uvicorn imports in each worker process of `serve --workers N`.
WORKER_APP = "webapp.server:worker_app"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# New objects between two collections of the garbage collector's youngest generation (settle_heap).
YOUNG_COLLECTION = 10_000


class StartupError(Exception):
    """The site cannot start; the message is one line naming the file and the problem."""


def prepare_database(path: Path, clock: Clock) -> Fault | None:
    """Before serving: apply pending migrations and prove that a write commits.

    Raises StartupError when the site cannot serve at all (the database cannot be opened,
    read or migrated, or is being restored). Returns the fault when it can serve its pages
    but not save anything (read-only files, a full disk): the site then starts, /healthz
    answers 503 with the reason, and writes work as soon as the cause is fixed.
    """
    try:
        lock = hold_shared_lock(path)
    except DatabaseInUse as exc:
        raise StartupError(str(exc)) from None
    try:
        try:
            migrate(path, clock)
        except sqlite3.Error as exc:
            raise StartupError(f"cannot use the database {explain(path, exc)}") from None
        return write_fault(path)
    finally:
        release(lock)


def write_fault(path: Path) -> Fault | None:
    """Whether a write commits now (None) or what keeps it from doing so."""
    try:
        probe_file(path)
    except sqlite3.Error as exc:
        return Fault(storage_fault(exc) or "unavailable", explain(path, exc))
    free = free_bytes(path)
    if free < MIN_FREE_BYTES:
        return Fault("disk full", f"{path}: the disk is full ({free:,} bytes free)")
    return None


PR_SET_PDEATHSIG = 1  # prctl(2)


def end_with_supervisor() -> None:
    """In a worker of `serve --workers N` (Linux): SIGTERM when the supervisor dies, even by
    kill -9, so the worker finishes its complete requests and exits (its usual shutdown)
    instead of serving on alone, holding the port and the database: a restart would find
    the port taken and `restore` would be refused with no server left to stop. uvicorn
    starts every worker from the supervisor's main thread, whose end is what the kernel
    watches."""
    import ctypes
    import multiprocessing
    import signal
    import sys

    parent = multiprocessing.parent_process()
    if not sys.platform.startswith("linux") or parent is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    if os.getppid() != parent.pid:  # it died before the line above: nobody will signal
        os.kill(os.getpid(), signal.SIGTERM)


def settle_heap() -> None:
    """Once the app has started: what start-up made (modules, routes, the clinic's facts,
    compiled templates) lives as long as the process, so it leaves the cyclic garbage
    collector's generations. Otherwise each full collection walks all of it, a pause of
    about 30 ms that every request in flight waits out: measured with 100,000 requests
    stored and 32 connections, p99 of the staff dashboard 35-45 ms with it, 8-10 ms without
    (the median 5 ms either way). Garbage made later is collected as before.

    The youngest generation is collected after `YOUNG_COLLECTION` new objects, not 700:
    what a request makes is freed by reference counting as soon as it is answered, so a
    collection mostly walks the objects of the requests in flight, and Python's default
    walked them every few requests (about 5 % of the instructions of a stored consultation
    request, in both threads; valgrind). Cycles still go within that many allocations."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, middle, old)


def worker_app() -> ASGIApp:
    """The app of one worker process of `serve --workers N`: uvicorn starts each worker
    afresh and imports this by name. The parent has applied the migrations already; each
    worker reads the same settings from the environment and notes a storage fault itself."""
    import logging

    from webapp import logs
    from webapp.accesslog import AccessLog
    from webapp.app import create_app
    from webapp.settings import from_env

    end_with_supervisor()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    settings = from_env()
    app = create_app(
        settings,
        access_log=AccessLog(log_client_address=settings.log_client_address),
        on_started=settle_heap,
    )
    logs.install(settings.log_client_address)
    fault = write_fault(settings.database_path)
    if fault is not None:
        app.ctx.db.note_fault(fault.kind, fault.detail)
    return app


def uvicorn_config(
    app: ASGIApp | str,
    settings: Settings,
    *,
    host: str,
    port: int,
    http: str = DEFAULT_HTTP,
    workers: int = 1,
) -> uvicorn.Config:
    """The one uvicorn configuration `serve` runs (timeouts, proxy trust, headers).

    With several workers, `app` is the import string of a factory (WORKER_APP): each
    worker process builds its own app.
    """
    import uvicorn

    from webapp.httpguard import GuardedHttpToolsProtocol

    # httptools with a size and time limit on request heads (webapp/httpguard.py); auto
    # means httptools here, since the project installs it.
    protocol: Any = GuardedHttpToolsProtocol if http in ("auto", "httptools") else http
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=workers,
        host=host,
        port=port,
        http=protocol,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        loop=LOOP,
        # No websockets here: not loading their library saves a tenth of a second at start.
        ws="none",
        server_header=False,
        log_level="info",
        # The site writes its own access line, cheaply (webapp/accesslog.py).
        access_log=False,
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def stack_line(config: uvicorn.Config, workers: int = 1) -> str:
    """What serves the site, in one line for the start-up log."""
    from importlib.metadata import PackageNotFoundError, version

    def named(package: str) -> str:
        try:
            return f"{package} {version(package)}"
        except PackageNotFoundError:
            return package

    chosen = getattr(config.http, "NAME", config.http)
    http = {"h11": named("h11"), "httptools": named("httptools")}.get(str(chosen), "auto")
    loop = named("uvloop") if config.loop == "uvloop" else f"{config.loop} event loop"
    processes = "1 process" if workers == 1 else f"{workers} worker processes"
    return f"serving with {named('uvicorn')}: HTTP parser {http}, {loop}, {processes}"


def _header(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope["headers"] if key.lower() == name]


async def _refuse(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


class RequestGuard:
    """The outermost layer: framing, junk query strings and slow bodies (see the module)."""

    def __init__(
        self, app: ASGIApp, body_seconds: float, headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.app = app
        self.body_seconds = body_seconds
        self.headers = headers  # the security headers, for the answers made here

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lengths = _header(scope, b"content-length")
        chunked = bool(_header(scope, b"transfer-encoding"))
        if chunked and lengths:
            text = "400 Bad Request: Content-Length and Transfer-Encoding together\n"
            await _refuse(send, 400, text, self.headers)
            return
        query = unquote_to_bytes(scope.get("query_string", b""))
        if not CONTROL_BYTES.isdisjoint(query):
            text = "400 Bad Request: the address holds control characters\n"
            await _refuse(send, 400, text, self.headers)
            return
        expects_body = chunked or any(value.strip() not in (b"", b"0") for value in lengths)
        body_read = not expects_body
        # Real time, on purpose: this bounds what a network peer may take, not app logic.
        # asyncio's own timeout (the site runs on asyncio): a tenth of the cost of an anyio
        # cancel scope, paid on every request with a body.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_seconds

        async def timed_receive() -> Message:
            nonlocal body_read
            if body_read:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408, "The request took too long to arrive. Please send it again."
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_read:
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*kept, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, timed_receive, closing_send)
