"""Rendered public pages kept in memory until their content can change.

A page changes when the banner's text would (its next transition), when a closure is
added or removed, or when an article file changes. Pages with the consultation form are
cached without the visitor's token: each response splices in a fresh one, so no two
visitors ever share a token, and the gzip of everything before the token is made once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import zlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from webapp import closures
from webapp.clock import Clock, Interval
from webapp.db import Database
from webapp.hours import Override, Schedule, with_overrides
from webapp.security import TOKEN_MARK, shared_render
from webapp.static import accepts_gzip

# Closures made by another process (the CLI) are noticed within this long.
RECHECK = timedelta(seconds=1)
LOOKBACK = timedelta(days=32)
MAX_ENTRIES = 256


class ClosureCache:
    """The dated closures, re-read at most once a second and at once after a change here."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.version = 0
        self._items: tuple[Override, ...] = ()
        self._first_day: date | None = None
        self._recheck = Interval(clock, RECHECK)
        self._commits = -1
        self._schedules: dict[tuple[int, date, int], Schedule] = {}

    async def overrides(self, today: date) -> tuple[Override, ...]:
        """Closures from LOOKBACK before today on."""
        first_day = today - LOOKBACK
        # Re-read after any commit of this process, and every second for other processes.
        stale = self._recheck.due()
        if stale or self._commits != self.db.commits or self._first_day != first_day:
            self._commits = self.db.commits
            items = tuple(await closures.list_from(self.db, first_day))
            self._recheck.mark()
            if items != self._items or first_day != self._first_day:
                self._items, self._first_day = items, first_day
                self.version += 1
                self._schedules.clear()
        return self._items

    async def schedule(self, base: Schedule, today: date, back: timedelta) -> Schedule:
        """The weekly schedule with closures from `back` before today (built once per change)."""
        items = await self.overrides(today)
        first = today - back
        key = (self.version, first, id(base))
        found = self._schedules.get(key)
        if found is None:
            found = with_overrides(base, [o for o in items if o.day >= first])
            self._schedules[key] = found
        return found


class ArticleVersion:
    """A fingerprint of the articles folder, taken at most once a second."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self._value: tuple[tuple[str, int, int], ...] = ()
        self._recheck = Interval(clock, RECHECK)

    def current(self) -> tuple[tuple[str, int, int], ...]:
        """(name, mtime_ns, size) of every article file."""
        if self._recheck.due():
            try:
                self._value = tuple(
                    sorted(
                        (e.name, e.stat().st_mtime_ns, e.stat().st_size)
                        for e in os.scandir(self.directory)
                        if e.name.endswith(".md")
                    )
                )
            except OSError:
                self._value = ()
            self._recheck.mark()
        return self._value


@dataclass
class Entry:
    """One rendered page: its bytes around the token, and the gzip of the part before it."""

    status: int
    headers: dict[str, str]
    rendered_at: datetime
    valid_until: datetime
    validator: Hashable
    before: bytes
    after: bytes | None  # None: the page has no token
    etag: str = ""
    gzip_head: bytes = b""  # gzip header + deflate(before), ended by a full flush
    gzip_tail: bytes = b""  # deflate(after) as an independent final stream
    crc_before: int = 0
    gzip_whole: bytes | None = None
    hits: int = field(default=0)


def _gzip_parts(before: bytes, after: bytes) -> tuple[bytes, bytes]:
    """gzip of the page around the token, each side compressed once.

    A full flush ends the first part on a byte boundary with no back-references to carry
    over, so a separately compressed token and a separately compressed rest can follow
    it; only the trailer (CRC-32 and length of the whole page) is made per response.
    """
    head = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: with the gzip header
    tail = zlib.compressobj(6, zlib.DEFLATED, -15)  # -15: raw deflate, no header
    return (
        head.compress(before) + head.flush(zlib.Z_FULL_FLUSH),
        tail.compress(after) + tail.flush(),
    )


def _gzip_token(entry: Entry, token: bytes) -> bytes:
    middle = zlib.compressobj(1, zlib.DEFLATED, -15)
    packed = middle.compress(token) + middle.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(entry.after or b"", zlib.crc32(token, entry.crc_before))
    size = len(entry.before) + len(token) + len(entry.after or b"")
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return entry.gzip_head + packed + entry.gzip_tail + trailer


class CacheError(Exception):
    """A page cannot be cached as built: its per-visitor token would be shared."""


@dataclass(frozen=True)
class Built:
    """A freshly rendered page and until when it may be reused (None: this response only)."""

    response: Response
    valid_until: datetime | None


def make_entry(
    response: Response,
    rendered_at: datetime,
    valid_until: datetime,
    validator: Hashable,
    *,
    form: bool,
) -> Entry:
    """Split a freshly rendered page at the token marker and prepare its gzip.

    A form page must carry the marker exactly once (each response gets its own token in
    its place); any other page must carry none. Anything else raises CacheError.
    """
    body = bytes(response.body)
    headers = {
        k: v
        for k, v in response.headers.items()
        if k not in ("content-length", "set-cookie", "content-encoding")
    }
    marker = TOKEN_MARK.encode()
    found = body.count(marker)
    if form and found != 1:
        raise CacheError(f"a cached form page must carry one token placeholder, not {found}")
    if not form and found:
        raise CacheError("a cached page without a form carries a token placeholder")
    if form:
        before, _, after = body.partition(marker)
        head, tail = _gzip_parts(before, after)
        return Entry(response.status_code, headers, rendered_at, valid_until, validator, before,
                     after, gzip_head=head, gzip_tail=tail,
                     crc_before=zlib.crc32(before))  # fmt: skip
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Entry(response.status_code, headers, rendered_at, valid_until, validator, body, None,
                 etag=etag,
                 gzip_whole=zlib.compress(body, 6, 31) if len(body) > 512 else None)  # fmt: skip


def respond(entry: Entry, request: Request, token: Callable[[], str]) -> Response:
    """A response from a cache entry: a fresh token spliced in, gzip if accepted."""
    headers = dict(entry.headers)
    headers["vary"] = ", ".join(filter(None, [headers.get("vary"), "Accept-Encoding"]))
    gzip_ok = accepts_gzip(Headers(scope=request.scope))
    if entry.after is None:
        headers["etag"] = entry.etag
        if entry.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=_keep_for_304(headers))
        if gzip_ok and entry.gzip_whole is not None:
            headers["content-encoding"] = "gzip"
            return Response(entry.gzip_whole, entry.status, headers)
        return Response(entry.before, entry.status, headers)
    fresh = token().encode()
    if gzip_ok:
        headers["content-encoding"] = "gzip"
        return Response(_gzip_token(entry, fresh), entry.status, headers)
    return Response(entry.before + fresh + entry.after, entry.status, headers)


def _keep_for_304(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in ("etag", "cache-control", "vary")}


class SingleFlight:
    """One rebuild per key at a time: when a page expires under load, the requests that
    arrive meanwhile wait for that one rebuild instead of each making their own."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def lock(self, key: Hashable) -> asyncio.Lock:
        """The lock for key (the table is reset when large; a lost lock only costs time)."""
        if len(self._locks) > 4 * MAX_ENTRIES:
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        return self._locks.setdefault(key, asyncio.Lock())


class PageCache:
    """Entries by key; each is used until its instant, closures or articles change."""

    def __init__(self) -> None:
        self.entries: dict[Hashable, Entry] = {}
        self.flight = SingleFlight()

    def _fresh(self, key: Hashable, now: datetime, validator: Hashable) -> Entry | None:
        entry = self.entries.get(key)
        # (A clock set back, say by NTP, must not bring back a page from the future.)
        if entry and entry.rendered_at <= now < entry.valid_until and entry.validator == validator:
            return entry
        return None

    async def page(
        self,
        request: Request,
        key: Hashable,
        now: datetime,
        validator: Hashable,
        build: Callable[[str | None], Awaitable[Built]],
        token: Callable[[], str] | None = None,
    ) -> Response:
        """The cached page for key, rendering it (once) when missing or stale.

        `token` makes it a form page: `build` gets the placeholder to render where the form
        token goes, and each response gets `token()` in its place. While `build` runs, no
        real form token can be issued (FormTokens.issue raises), so none is ever shared.
        """
        entry = self._fresh(key, now, validator)
        if entry is None:
            async with self.flight.lock(key):
                entry = self._fresh(key, now, validator)
                if entry is None:
                    built = await _build_shared(build, TOKEN_MARK if token else None)
                    if built.response.status_code != 200:
                        self.entries.pop(key, None)
                        return built.response
                    until = built.valid_until or now
                    entry = make_entry(built.response, now, until, validator, form=bool(token))
                    if until > now:  # otherwise used for this response only
                        if len(self.entries) >= MAX_ENTRIES:
                            self.entries.clear()
                        self.entries[key] = entry
        entry.hits += 1
        return respond(entry, request, token or _no_token)


async def _build_shared(
    build: Callable[[str | None], Awaitable[Built]], placeholder: str | None
) -> Built:
    marker = shared_render.set(True)
    try:
        return await build(placeholder)
    finally:
        shared_render.reset(marker)


def _no_token() -> str:
    raise CacheError("a page without a form has no token to splice in")


class ResponseMemo:
    """Small memo of whole responses for one signed-in person's repeated views.

    The caller's key must include the session, and its validator everything the page
    shows (the database's commit count, the minute for "5 min ago").
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: dict[Hashable, tuple[Hashable, bytes, int, dict[str, str]]] = {}
        self.flight = SingleFlight()

    async def get_or_build(
        self, key: Hashable, validator: Hashable, build: Callable[[], Awaitable[Response]]
    ) -> Response:
        """The remembered response, or one built (once, however many ask at the same time)."""
        found = self.get(key, validator)
        if found is not None:
            return found
        async with self.flight.lock(key):
            found = self.get(key, validator)
            if found is not None:
                return found
            response = await build()
            self.put(key, validator, response)
            return response

    def get(self, key: Hashable, validator: Hashable) -> Response | None:
        """The remembered response, if it is still valid."""
        found = self._items.get(key)
        if found is None or found[0] != validator:
            return None
        return Response(found[1], found[2], dict(found[3]))

    def put(self, key: Hashable, validator: Hashable, response: Response) -> None:
        """Remember a 200 response."""
        if response.status_code != 200:
            return
        if len(self._items) >= self.size:
            self._items.clear()
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        self._items[key] = (validator, bytes(response.body), response.status_code, headers)
