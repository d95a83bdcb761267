"""A cached page is rendered at most once a minute, at every instant of a day, and what each
response shows is what a page rendered at that very instant would show.

The clock is the app's own (FakeClock), swept over a whole Wednesday: every minute, and
every 5 seconds of the hour before the clinic closes (when the banner counts down) and of
the last minutes before it opens. Renders are counted where pages are made
(`TemplateResponse`), by page and minute.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from tests.conftest import ET, FakeClock, make_settings
from tests.helpers import TOKEN_FIELD
from webapp.app import create_app
from webapp.clinic import load_clinic
from webapp.hours import status_at

DAY = datetime(2026, 12, 2, tzinfo=ET)  # a Wednesday: open 9:00 AM to 5:00 PM
PAGES = {
    "/": "home.html",
    "/clinic": "clinic.html",
    "/open-status": "_open_status.html",
    "/articles/does-ketamine-treat-depression": "article.html",
}
BANNER = re.compile(r'<div id="open-status".*?</div>', re.S)
TRIGGER = re.compile(r'data-hx-trigger="([^"]+)"')


def instants() -> list[datetime]:
    """Every minute of the day at :00 and :59.9, and every 5 s of the busy stretches."""
    found = set()
    for minute in range(24 * 60):
        start = DAY + timedelta(minutes=minute)
        found |= {start, start + timedelta(seconds=59.9)}
    for first, last in (((16, 0), (17, 1)), ((8, 50), (9, 1))):
        at = DAY.replace(hour=first[0], minute=first[1])
        while at < DAY.replace(hour=last[0], minute=last[1]):
            found.add(at)
            at += timedelta(seconds=5)
    return sorted(found)


def expected_trigger(now: datetime, refresh: datetime | None) -> str:
    """The banner's refresh rule, written out again: poll every minute; when the text
    changes sooner, also refresh 150 ms after that instant, rounded up to 50 ms."""
    if refresh is None:
        return "every 60s"
    delay = math.ceil(((refresh - now) / timedelta(milliseconds=1) + 150) / 50) * 50
    if delay >= 60_000:
        return "every 60s"
    return f"load delay:{max(150, delay)}ms, every 60s"


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", BANNER.search(html).group(0))).strip()


Get = Callable[[str], Awaitable[str]]


def serve(app, run: Callable[[Get], Awaitable[None]]) -> None:
    """Run `run(get)` inside the app's lifespan; get(path) is the page's HTML, straight from
    the ASGI app (as a browser asks for it, gzip included: thousands of requests, quickly)."""

    async def main() -> None:
        async with app.router.lifespan_context(app):

            async def fetch(path: str) -> str:
                sent: list[dict] = []

                async def receive() -> dict:
                    return {"type": "http.request", "body": b"", "more_body": False}

                async def send(message: dict) -> None:
                    sent.append(message)

                headers = [(b"host", b"testserver"), (b"accept-encoding", b"gzip")]
                scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
                         "path": path, "raw_path": path.encode(), "query_string": b"",
                         "root_path": "", "client": ("127.0.0.1", 50000),
                         "server": ("testserver", 80), "headers": headers}  # fmt: skip
                await app(scope, receive, send)
                assert sent[0]["status"] == 200, (path, sent[0])
                body = b"".join(m.get("body", b"") for m in sent[1:])
                if (b"content-encoding", b"gzip") in sent[0]["headers"]:
                    body = gzip.decompress(body)
                return body.decode()

            await run(fetch)

    asyncio.run(main())


@pytest.fixture
def counted(tmp_path):
    """An app on a fixed clock, and the pages it renders as (template, minute)."""
    clock = FakeClock(DAY)
    app = create_app(make_settings(tmp_path), clock=clock)
    renders: Counter[tuple[str, datetime]] = Counter()
    original = app.ctx.templates.TemplateResponse

    def counting(request, name, *args, **kwargs):
        renders[(name, clock().replace(second=0, microsecond=0))] += 1
        return original(request, name, *args, **kwargs)

    app.ctx.templates.TemplateResponse = counting
    return app, clock, renders


def test_every_instant_of_a_day_renders_each_page_at_most_once_a_minute(counted):
    app, clock, renders = counted
    schedule = load_clinic(app.ctx.settings.clinic_file).schedule
    seen = []

    async def run(get: Get) -> None:
        for now in instants():
            clock.set(now)
            status = status_at(now, schedule)
            for path in PAGES:
                html = await get(path)
                assert text(html).startswith(f"{status.headline} · {status.detail}"), (now, path)
                trigger = TRIGGER.search(html).group(1)
                assert trigger == expected_trigger(now, status.next_refresh), (now, path)
                seen.append(path)

    serve(app, run)
    assert len(seen) > 4 * 3000
    worst = max(renders.values())
    assert worst == 1, [key for key, count in renders.items() if count > 1][:5]
    # Every page was rendered in each minute of the countdown (its text changes each minute)
    # and a handful of times in the hours before.
    countdown = [DAY.replace(hour=16, minute=m) for m in range(60)]
    for template in PAGES.values():
        assert all(renders[(template, minute)] == 1 for minute in countdown), template
        assert sum(n for (name, _), n in renders.items() if name == template) < 60 + 12


def test_each_response_is_the_page_a_render_at_that_instant_makes(counted, tmp_path):
    """The cached page with its spliced trigger against a page rendered afresh each time."""
    app, clock, _ = counted
    (tmp_path / "fresh").mkdir()
    fresh_app = create_app(make_settings(tmp_path / "fresh"), clock=clock)
    made: dict[tuple[datetime, str], str] = {}

    async def render_fresh(get: Get) -> None:
        for now in instants()[::7]:
            clock.set(now)
            for path in PAGES:
                fresh_app.ctx.page_cache.entries.clear()
                made[(now, path)] = TOKEN_FIELD.sub("", await get(path))

    async def compare(get: Get) -> None:
        for now in instants()[::7]:
            clock.set(now)
            for path in PAGES:
                assert TOKEN_FIELD.sub("", await get(path)) == made[(now, path)], (now, path)

    serve(fresh_app, render_fresh)
    serve(app, compare)


def test_many_visitors_in_the_last_minute_share_one_render(counted):
    app, clock, renders = counted

    async def run(get: Get) -> None:
        for tenth in range(600):  # every tenth of a second of the minute before closing
            clock.set(DAY.replace(hour=16, minute=59) + timedelta(seconds=tenth / 10))
            await get("/")

    serve(app, run)
    assert renders[("home.html", DAY.replace(hour=16, minute=59))] == 1
