"""Rendered public pages kept in memory until their content can change.

A page changes when the banner's text would (its next transition, or the next minute of a
"Closes in N min" countdown), when a closure is added or removed, or when an article file
changes: so a page is rendered at most once a minute, whatever the instant. What differs
per response is spliced into the cached bytes (webapp.splice): the visitor's own form token
(so no two visitors ever share one) and the banner's refresh trigger, whose delay counts
down to the next change. Their gzip is made once per rendering.
"""

from __future__ import annotations

import asyncio
import os
import re
import zlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from webapp import closures, wirehead
from webapp.clock import Clock, Interval
from webapp.db import Database
from webapp.hours import Override, Schedule, with_overrides
from webapp.security import TOKEN_MARK, shared_render
from webapp.splice import GZIP_MIN, Sliced, SliceError, slice_page
from webapp.static import accepts_gzip

# Closures made by another process (the CLI) are noticed within this long.
RECHECK = timedelta(seconds=1)
LOOKBACK = timedelta(days=32)
# SplicedFragments: what a spliced value may be, and what stands in for it while rendering.
SPLICE_SAFE = re.compile(r"[0-9A-Za-z-]{1,40}")
STAND_IN = "\u2063spliced-value\u2063"
MAX_ENTRIES = 256
# The banner polls every minute; when its text changes sooner, it also refreshes then.
POLL_MS = 60_000
REFRESH_MARGIN_MS = 150
# The refresh delay is rounded up to this step: within a step, a page without a form gets
# the same answer (its ETag names the delay), made once (Entry.replies), and the banner
# refreshes at most this much later than the margin alone would have it.
TRIGGER_STEP_MS = 50
# Answers kept per cache entry (one per trigger step and encoding; a minute's entry needs
# at most a couple at a time).
REPLIES_KEPT = 4
EVERY_MINUTE = "every 60s"
# Rendered in place of the banner's trigger in shared pages; never sent.
TRIGGER_MARK = "0-refresh-trigger-0"
KEEP_FOR_304 = frozenset({b"cache-control", b"vary"})
# A form's token field (every form on the site names it "token"), and the value it carries.
TOKEN_INPUT = re.compile(rb"<input\b[^>]*\bname=\"token\"[^>]*>", re.IGNORECASE)
INPUT_VALUE = re.compile(rb'\bvalue="([^"]*)"')


class ClosureCache:
    """The dated closures, re-read at most once a second and at once after a change here
    (closures.put_range and remove_range count theirs in `Database.changed`)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.version = 0
        self._items: tuple[Override, ...] = ()
        self._first_day: date | None = None
        self._recheck = Interval(clock, RECHECK)
        self._changes = -1
        self._schedules: dict[tuple[int, date, int], Schedule] = {}

    def fresh(self, now: datetime) -> bool:
        """True when what was read last still holds at `now` (read less than a second ago,
        and nothing committed here since): `overrides` would not read again."""
        return not self._recheck.due(now) and self._changes == self.db.changed[closures.CHANGED]

    async def overrides(self, today: date) -> tuple[Override, ...]:
        """Closures from LOOKBACK before today on."""
        first_day = today - LOOKBACK
        # Re-read after a change made by this process, and every second for other processes.
        stale = self._recheck.due()
        changes = self.db.changed[closures.CHANGED]
        if stale or self._changes != changes or self._first_day != first_day:
            self._changes = changes
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

    def current(self, now: datetime | None = None) -> tuple[tuple[str, int, int], ...]:
        """(name, mtime_ns, size) of every article file (`now`: the clock's reading)."""
        if self._recheck.due(now):
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
            self._recheck.mark(now)
        return self._value


@dataclass(frozen=True)
class Reply:
    """One response, ready to send: status, raw headers, body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    # The same headers as the protocol writes them (webapp.wirehead), when prepared.
    wire: wirehead.Prepared | None = None


class RawResponse(Response):
    """A Starlette response around a Reply (its headers already complete)."""

    def __init__(self, reply: Reply) -> None:
        self.status_code = reply.status
        self.body = reply.body
        self.background = None
        self.raw_headers = list(reply.headers)


def refresh_trigger(now: datetime, refresh_at: datetime | None) -> str:
    """The banner's htmx trigger at `now`: poll every minute, and when its text changes
    sooner than that, also refresh at that instant (a little after it, so the server is
    surely past it)."""
    refresh_ms = POLL_MS
    if refresh_at is not None:
        # In whole microseconds (no rounding by floats), up to the next step.
        until_us = (refresh_at - now) // timedelta(microseconds=1) + REFRESH_MARGIN_MS * 1000
        step_us = TRIGGER_STEP_MS * 1000
        stepped = -(-until_us // step_us) * TRIGGER_STEP_MS
        refresh_ms = max(REFRESH_MARGIN_MS, min(POLL_MS, stepped))
    return EVERY_MINUTE if refresh_ms >= POLL_MS else f"load delay:{refresh_ms}ms, {EVERY_MINUTE}"


@dataclass
class Entry:
    """One rendered page, cut at its per-response slots, with its headers prepared."""

    status: int
    headers: dict[str, str]
    rendered_at: datetime
    valid_until: datetime
    validator: Hashable
    page: Sliced
    refresh_at: datetime | None  # when the banner's text changes (its trigger counts down)
    form: bool
    # The page with its trigger at the plain minute (most responses): compressed whole.
    page_minute: Sliced | None = None
    plain_head: list[tuple[bytes, bytes]] = field(default_factory=list)
    gzip_head: list[tuple[bytes, bytes]] = field(default_factory=list)
    not_modified_head: list[tuple[bytes, bytes]] = field(default_factory=list)
    # The three heads as written on the wire (webapp.wirehead); None: sent as lists only.
    plain_wire: bytes | None = None
    gzip_wire: bytes | None = None
    not_modified_wire: bytes | None = None
    hits: int = field(default=0)
    # A page without a form: its answers by (trigger, gzip), the same for every visitor.
    replies: dict[tuple[bytes, bool], Reply] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        """The validator of a page without a form while its trigger is the plain minute."""
        return "" if self.form else f'"{self.page.digest}"'

    def trigger(self, now: datetime) -> str:
        """The banner's trigger for a response at `now`."""
        return refresh_trigger(now, self.refresh_at)


class CacheError(Exception):
    """A page cannot be cached as built: its per-visitor token would be shared."""


@dataclass(frozen=True)
class Built:
    """A freshly rendered page and until when it may be reused (None: this response only).

    A page whose banner counts down is reused all the same: its refresh trigger is made per
    response (until `valid_until`, the instant its text changes).
    """

    response: Response
    valid_until: datetime | None


def make_entry(
    response: Response,
    rendered_at: datetime,
    valid_until: datetime,
    validator: Hashable,
    *,
    form: bool,
    refresh_at: datetime | None = None,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
    token_size: int | None = None,
) -> Entry:
    """Cut a freshly rendered page at its placeholders and prepare its gzip and headers.

    A form page must carry the token placeholder exactly once (each response gets its own
    token in its place); any other page must carry none, and no page a token field with
    another value (a page with a form that was not declared one). Anything else raises
    CacheError.
    The banner's trigger placeholder may appear once.
    """
    body = bytes(response.body)
    headers = {
        k: v
        for k, v in response.headers.items()
        if k not in ("content-length", "set-cookie", "content-encoding", "etag")
    }
    found = body.count(TOKEN_MARK.encode())
    # A token field holding anything but the placeholder (a token issued before the build and
    # rendered into it, or none at all) would be one value handed to every visitor.
    own = {m.group(1) if m else b"" for m in map(INPUT_VALUE.search, TOKEN_INPUT.findall(body))}
    if own - {TOKEN_MARK.encode()}:
        raise CacheError("a shared page carries a form token field without the placeholder")
    if form and found != 1:
        raise CacheError(f"a cached form page must carry one token placeholder, not {found}")
    if not form and found:
        raise CacheError("a cached page without a form carries a token placeholder")
    markers = {"token": TOKEN_MARK.encode(), "trigger": TRIGGER_MARK.encode()}
    sizes = {"token": token_size} if token_size else {}
    try:
        page = slice_page(body, markers, gzip=True, sizes=sizes)
    except SliceError as exc:
        raise CacheError(str(exc)) from None
    minute = None
    if "trigger" in page.slots:
        filled = body.replace(TRIGGER_MARK.encode(), EVERY_MINUTE.encode())
        minute = slice_page(filled, markers, gzip=True, sizes=sizes)
    entry = Entry(response.status_code, headers, rendered_at, valid_until, validator, page,
                  refresh_at, form, minute)  # fmt: skip
    vary = ", ".join(filter(None, [headers.get("vary"), "Accept-Encoding"]))
    common = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items() if k != "vary"]
    common.append((b"vary", vary.encode("latin-1")))
    extra = list(extra_headers)
    entry.not_modified_head = [(k, v) for k, v in common if k in KEEP_FOR_304] + extra
    entry.plain_head = common + _length(page, page.parts[0] if not page.slots else None) + extra
    if page.gzipped is not None:
        coded = [*common, (b"content-encoding", b"gzip")]
        whole = page.gzipped[0] if not page.slots else None
        entry.gzip_head = coded + _length(page, whole) + extra
    try:
        entry.plain_wire = wirehead.encode(entry.plain_head)
        entry.gzip_wire = wirehead.encode(entry.gzip_head)
        entry.not_modified_wire = wirehead.encode(entry.not_modified_head)
    except wirehead.NotPreparable:
        entry.plain_wire = entry.gzip_wire = entry.not_modified_wire = None
    return entry


def _length(page: Sliced, body: bytes | None) -> list[tuple[bytes, bytes]]:
    """A fixed content-length header when the body never changes; else none (added later)."""
    return [] if page.slots or body is None else [(b"content-length", str(len(body)).encode())]


def answer(
    entry: Entry, now: datetime, gzip_ok: bool, if_none_match: str, token: Callable[[], str]
) -> Reply:
    """A response from a cache entry: a fresh token and trigger spliced in, gzip if accepted,
    304 when a page without a form is still what the browser holds."""
    page = entry.page
    values: dict[str, bytes] = {}
    etag = ""
    if "trigger" in page.slots:
        trigger = entry.trigger(now)
        values["trigger"] = trigger.encode()
        if not entry.form and trigger != EVERY_MINUTE:
            etag = f'"{page.digest}-{trigger.split(":")[1].split("ms")[0]}"'
    if not entry.form:
        etag = etag or entry.etag
        if etag in if_none_match:
            tag = etag.encode()
            wire = entry.not_modified_wire
            prepared = None if wire is None else (wirehead.made(b"etag", tag) + wire, None)
            return Reply(304, [(b"etag", tag), *entry.not_modified_head], b"", prepared)
    if "token" in page.slots:
        values["token"] = token().encode()
    if entry.page_minute is not None and values.get("trigger") == EVERY_MINUTE.encode():
        page = entry.page_minute
    zipped = gzip_ok and bool(entry.gzip_head) and page.gzipped is not None
    if entry.form:
        return _reply(entry, page, values, zipped, etag)
    # Without a form every visitor gets the same bytes for a trigger: made once per step.
    key = (values.get("trigger", b""), zipped)
    found = entry.replies.get(key)
    if found is None:
        if len(entry.replies) >= REPLIES_KEPT:
            entry.replies.clear()
        found = entry.replies[key] = _reply(entry, page, values, zipped, etag)
    return found


def _reply(entry: Entry, page: Sliced, values: dict[str, bytes], zipped: bool, etag: str) -> Reply:
    """The response of `answer`, its slots filled with `values`."""
    head = entry.gzip_head if zipped else entry.plain_head
    wire = entry.gzip_wire if zipped else entry.plain_wire
    body = page.gzip(values) if zipped else page.body(values)
    if entry.page.slots:  # (the prepared headers have no length then)
        length = (b"content-length", str(len(body)).encode())
        head = [*head, length]
        wire = None if wire is None else wire + wirehead.made(*length)
    if etag:
        tagged = (b"etag", etag.encode())
        head = [tagged, *head]
        wire = None if wire is None else wirehead.made(*tagged) + wire
    return Reply(entry.status, head, body, None if wire is None else (wire, len(body)))


def respond(entry: Entry, request: Request, now: datetime, token: Callable[[], str]) -> Response:
    """`answer` for a Starlette request."""
    headers = Headers(scope=request.scope)
    reply = answer(entry, now, accepts_gzip(headers), headers.get("if-none-match", ""), token)
    return RawResponse(reply)


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
    """Entries by key; each is used until its instant, closures or articles change.

    `extra_headers` (the security headers) are part of every prepared response, so a
    response can be sent as it is, before any other layer (webapp.fastpath).
    """

    def __init__(self, extra_headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.entries: dict[Hashable, Entry] = {}
        self.flight = SingleFlight()
        self.extra_headers = tuple(extra_headers)
        self.renders = 0

    def lookup(self, key: Hashable, now: datetime, validator: Hashable) -> Entry | None:
        """The entry for key if it may serve a response at `now`."""
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
        entry = self.lookup(key, now, validator)
        if entry is None:
            async with self.flight.lock(key):
                entry = self.lookup(key, now, validator)
                if entry is None:
                    built = await _build_shared(build, TOKEN_MARK if token else None)
                    self.renders += 1
                    if built.response.status_code != 200:
                        self.entries.pop(key, None)
                        return built.response
                    until = built.valid_until or now
                    entry = make_entry(built.response, now, until, validator, form=bool(token),
                                       refresh_at=built.valid_until,
                                       extra_headers=self.extra_headers,
                                       token_size=len(token()) if token else None)  # fmt: skip
                    if until > now:  # otherwise used for this response only
                        if len(self.entries) >= MAX_ENTRIES:
                            self.entries.clear()
                        self.entries[key] = entry
        entry.hits += 1
        return respond(entry, request, now, token or _no_token)


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


@dataclass(frozen=True)
class _Memo:
    validator: Hashable
    status: int
    plain: list[tuple[bytes, bytes]]  # headers, length included
    body: bytes
    zipped: list[tuple[bytes, bytes]] | None
    packed: bytes


class SplicedFragments:
    """Fragments rendered once per key with a stand-in for the one value that differs per
    response, which each response gets put in its place (the consultation's confirmation:
    the same for every request with the same promise, but for its reference).

    The value must be plain text that needs no escaping (`SPLICE_SAFE`): it is put into the
    HTML as it is.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: dict[Hashable, tuple[str, ...]] = {}
        self.renders = 0  # (tests read it)

    def render(self, key: Hashable, build: Callable[[str], str], value: str) -> str:
        """The fragment for `key` with `value` in it; `build(stand_in)` renders it."""
        if not SPLICE_SAFE.fullmatch(value):
            raise ValueError(f"not safe to put into HTML as it is: {value!r}")
        parts = self._items.get(key)
        if parts is None:
            parts = tuple(build(STAND_IN).split(STAND_IN))
            self.renders += 1
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = parts
        return value.join(parts)


class ResponseMemo:
    """Small memo of whole responses for one signed-in person's repeated views.

    The caller's key must include the session, and its validator everything the page
    shows (the database's commit count, the minute for "5 min ago"). A page is gzipped once
    when remembered (a dashboard of 17 KB is sent as 4 KB): these responses are `no-store`,
    so no cache keeps them and their Vary stays as the view set it.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: dict[Hashable, _Memo] = {}
        self.flight = SingleFlight()

    async def get_or_build(
        self,
        key: Hashable,
        validator: Hashable,
        build: Callable[[], Awaitable[Response]],
        *,
        gzip_ok: bool = False,
    ) -> Response:
        """The remembered response, or one built (once, however many ask at the same time)."""
        found = self.get(key, validator, gzip_ok=gzip_ok)
        if found is not None:
            return found
        async with self.flight.lock(key):
            found = self.get(key, validator, gzip_ok=gzip_ok)
            if found is not None:
                return found
            response = await build()
            self.put(key, validator, response)
            return self.get(key, validator, gzip_ok=gzip_ok) or response

    def get(self, key: Hashable, validator: Hashable, *, gzip_ok: bool = False) -> Response | None:
        """The remembered response, if it is still valid."""
        found = self._items.get(key)
        if found is None or found.validator != validator:
            return None
        if gzip_ok and found.zipped is not None:
            return RawResponse(Reply(found.status, found.zipped, found.packed))
        return RawResponse(Reply(found.status, found.plain, found.body))

    def put(self, key: Hashable, validator: Hashable, response: Response) -> None:
        """Remember a 200 response."""
        if response.status_code != 200:
            return
        if len(self._items) >= self.size:
            self._items.clear()
        body = bytes(response.body)
        head = [(k, v) for k, v in response.raw_headers if k not in (b"content-length",)]
        plain = [*head, (b"content-length", str(len(body)).encode())]
        zipped, packed = None, b""
        if len(body) > GZIP_MIN and b"content-encoding" not in dict(head):
            packed = zlib.compress(body, 6, 31)
            zipped = [*head, (b"content-encoding", b"gzip"),
                      (b"content-length", str(len(packed)).encode())]  # fmt: skip
        self._items[key] = _Memo(validator, response.status_code, plain, body, zipped, packed)
