"""The short path: cached public pages answered before any other layer.

A GET or HEAD of a public page whose rendering is in the page cache, still valid, is
answered here, outermost, from the entry's prepared headers (security headers included)
with the visitor's own token and the banner's trigger spliced in: no middleware, no
routing, no Request object. Everything else, and every miss, goes on to the full stack,
which renders the page, stores it, and answers the same bytes from the same entry (the
tests compare both paths).

What the layers behind would do is done here, or the request is passed on to them:
- the Host check: a host not allowed goes on (and gets its 400 there);
- HTTPS_ONLY: a plain-HTTP request goes on (and gets its redirect there);
- the request guard: a request that declares a body, or has a query string (but
  /open-status?was=STATE), goes on;
- the access line: written here for what is answered here.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from webapp.accesslog import AccessLog
from webapp.context import AppContext
from webapp.pagecache import answer
from webapp.security import host_allowed
from webapp.static import accepts_gzip
from webapp.wirehead import PREPARED

# The cached pages by path (views/public.py and views/consultation.py use these keys).
FIXED = {
    "/": "home",
    "/articles/": "articles",
    "/clinic": "clinic",
    "/privacy": "privacy",
    "/consultation": "consultation",
}
ARTICLES = "/articles/"
STATUS = "/open-status"
WAS: dict[bytes | None, str | None] = {None: None}
WAS.update((f"was={state}".encode(), state) for state in ("open", "closing_soon", "closed"))
MEMO_SIZE = 256


def page_key(path: str, query: bytes | None) -> Hashable | None:
    """The page cache's key for a request the short path may answer (query: None when
    empty), else None."""
    if path == STATUS:
        if query in WAS:
            return ("open-status", WAS[query])
        return None
    if query:
        return None
    fixed = FIXED.get(path)
    if fixed is not None:
        return fixed
    if path.startswith(ARTICLES):
        slug = path[len(ARTICLES) :]
        if slug and "/" not in slug:
            return ("article", slug)
    return None


async def page_validator(app: AppContext, now: datetime) -> Hashable:
    """What a cached page's content depends on besides the instant: the closures (re-read
    at most once a second, at once after a change made here) and the article files."""
    closures = app.closure_cache
    if not closures.fresh(now):
        await closures.overrides(now.astimezone(app.clinic.schedule.tz).date())
    return (closures.version, app.article_version.current(now))


def origin_of(app: AppContext, scope: Scope, host: str) -> str:
    """The origin a page's absolute links were made for (BASE_URL, or the request's)."""
    return app.settings.base_url or f"{scope.get('scheme', 'http')}://{host}"


class FastPath:
    """Answers cache hits for public pages; passes everything else to `app`."""

    def __init__(self, app: ASGIApp, context: AppContext, log: AccessLog | None) -> None:
        self.app = app
        self.ctx = context
        self.log = log
        self.https_only = context.settings.https_only
        self._hosts: dict[bytes, bool] = {}
        self._encodings: dict[bytes, bool] = {}

    def _host_ok(self, host: bytes) -> bool:
        found = self._hosts.get(host)
        if found is None:
            found = host_allowed(host.decode("latin-1"), self.ctx.settings.allowed_hosts)
            if len(self._hosts) >= MEMO_SIZE:
                self._hosts.clear()
            self._hosts[host] = found
        return found

    def _gzip_ok(self, value: bytes) -> bool:
        found = self._encodings.get(value)
        if found is None:
            found = accepts_gzip(Headers(raw=[(b"accept-encoding", value)]))
            if len(self._encodings) >= MEMO_SIZE:
                self._encodings.clear()
            self._encodings[value] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        key = page_key(scope["path"], scope.get("query_string", b"") or None)
        if key is None or (self.https_only and scope.get("scheme") != "https"):
            await self.app(scope, receive, send)
            return
        host = encoding = b""
        match = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"accept-encoding":
                encoding = value
            elif name == b"if-none-match":
                match = value.decode("latin-1")
            elif name in (b"content-length", b"transfer-encoding"):
                host = b""  # a body: the request guard's business
                break
        if not host or not self._host_ok(host):
            await self.app(scope, receive, send)
            return
        app = self.ctx
        now = app.clock()
        try:
            validator = await page_validator(app, now)
        except Exception:  # the full stack meets it again, and answers it
            validator = None
        origin = origin_of(app, scope, host.decode("latin-1"))
        entry = None if validator is None else app.page_cache.lookup((origin, key), now, validator)
        if entry is None:
            await self.app(scope, receive, send)
            return
        entry.hits += 1
        gzip_ok = bool(encoding) and self._gzip_ok(encoding)
        reply = answer(entry, now, gzip_ok, match, lambda: app.form_tokens.issue(now))
        if self.log is not None:
            self.log.line(scope, reply.status)
        start = {"type": "http.response.start", "status": reply.status, "headers": reply.headers}
        if reply.wire is not None:  # the same headers, as the site's protocol writes them
            start[PREPARED] = reply.wire
        await send(start)
        await send({"type": "http.response.body", "body": reply.body})
