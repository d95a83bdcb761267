"""The page cache: fresh tokens per visitor, exact banner flips, changes shown at once."""

from __future__ import annotations

import gzip
import re
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import HX, TOKEN_FIELD, form, put_closure, token_in
from webapp import auth as webapp_auth
from webapp import closures, pagecache
from webapp.app import create_app
from webapp.settings import ROOT

FORM_PAGES = ["/", "/articles/does-ketamine-treat-depression", "/consultation"]


def banner(html: str) -> str:
    match = re.search(r'<p class="wrap open-status__text">(.*?)</p>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def hits(app) -> int:
    return sum(entry.hits for entry in app.ctx.page_cache.entries.values())


@pytest.mark.parametrize("path", FORM_PAGES)
def test_every_visitor_gets_their_own_valid_token(client, app, clock, path):
    pages = [client.get(path, headers={"accept-encoding": enc}) for enc in ("gzip", "identity")]
    pages += [client.get(path) for _ in range(3)]
    tokens = [token_in(page.text) for page in pages]
    assert len(set(tokens)) == len(tokens)
    assert pagecache.TOKEN_MARK not in "".join(page.text for page in pages)
    assert hits(app) >= 4  # served from the cache, yet never the same token
    for page in pages:
        assert page.headers["cache-control"] == "no-store"
    for token in tokens:
        assert app.ctx.form_tokens.read(token, clock()).nonce


def test_gzip_and_identity_bodies_match_apart_from_the_token(client):
    raw = client.get("/", headers={"accept-encoding": "identity"})
    packed = client.get("/", headers={"accept-encoding": "gzip"}, extensions={})
    assert "content-encoding" not in raw.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    # httpx2 decodes gzip itself; the bodies differ only in the token.
    assert TOKEN_FIELD.sub("", packed.text) == TOKEN_FIELD.sub("", raw.text)


@pytest.mark.parametrize("path", FORM_PAGES)
def test_gzip_body_is_a_valid_gzip_stream(app, path):
    with TestClient(app) as client:
        plain = client.get(path, headers={"accept-encoding": "identity"}).text
        for _ in range(3):  # cached: the token is spliced into a stream compressed once
            with client.stream("GET", path, headers={"accept-encoding": "gzip"}) as response:
                body = b"".join(response.iter_raw())
            html = gzip.decompress(body).decode()  # checks the CRC-32 and length too
            assert token_in(html) not in (pagecache.TOKEN_MARK, token_in(plain))
            assert html.replace(token_in(html), "T") == plain.replace(token_in(plain), "T")


def test_pages_without_a_form_answer_304_to_their_etag(client):
    first = client.get("/clinic")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/clinic", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/clinic", headers={"if-none-match": '"other"'}).status_code == 200


@pytest.mark.parametrize(
    ("before", "after", "text_before", "text_after"),
    [
        ((16, 59, 59), (17, 0, 0), "Closes in 1 min", "Closed · opens tomorrow at 9:00 AM ET"),
        ((8, 59, 59), (9, 0, 0), "Closed · opens today", "Open now · closes at 5:00 PM ET"),
        ((15, 59, 59), (16, 0, 0), "Open now", "Closes in 60 min"),
    ],
)
def test_cached_banner_flips_at_the_exact_instant(
    client, app, clock, before, after, text_before, text_after
):
    clock.set_local(2026, 12, 1, 11, 0, 0)
    client.get("/clinic")  # warm the cache well before the change
    client.get("/open-status")
    clock.set_local(2026, 12, 1, *before)
    for path in ("/clinic", "/open-status", "/"):
        assert banner(client.get(path).text).startswith(text_before), path
    clock.set_local(2026, 12, 1, *after)
    for path in ("/clinic", "/open-status", "/"):
        assert banner(client.get(path).text).startswith(text_after), path


def test_a_page_is_reused_until_the_minute_before_a_change(client, app, clock):
    clock.set_local(2026, 12, 1, 10, 0, 0)
    client.get("/clinic")
    clock.set_local(2026, 12, 1, 15, 58, 59)
    before = hits(app)
    client.get("/clinic")
    assert hits(app) == before + 1  # the same entry
    assert 'data-hx-trigger="every 60s"' in client.get("/clinic").text
    # In the last minute the refresh delay counts down, so pages are made per request.
    clock.set_local(2026, 12, 1, 15, 59, 30)
    assert 'data-hx-trigger="load delay:30150ms, every 60s"' in client.get("/clinic").text
    clock.set_local(2026, 12, 1, 15, 59, 45)
    assert 'data-hx-trigger="load delay:15150ms, every 60s"' in client.get("/clinic").text


def test_a_closure_made_here_shows_at_once(client, app, clock):
    clock.set_local(2026, 11, 26, 10, 0, 0)
    assert banner(client.get("/").text).startswith("Open now")
    entry = closures.make_override("2026-11-26", "Thanksgiving")
    put_closure(client, entry)
    for path in ("/", "/clinic", "/open-status", "/consultation"):
        assert banner(client.get(path).text).startswith("Closed today for Thanksgiving"), path


def test_stored_requests_do_not_make_the_pages_read_the_closures_again(
    client, app, clock, monkeypatch
):
    reads = []
    real = closures.list_from

    async def counted(db, first_day):
        reads.append(first_day)
        return await real(db, first_day)

    monkeypatch.setattr(closures, "list_from", counted)
    clock.set_local(2026, 12, 2, 10, 0, 0)
    tokens = [token_in(client.get("/consultation").text) for _ in range(3)]
    clock.advance(seconds=5)
    assert banner(client.get("/clinic").text).startswith("Open now")
    before = len(reads)
    for token in tokens:
        sent = client.post("/consultation", data=form(token), headers=HX)
        assert sent.status_code == 200 and "AKI-" in sent.text
    for path in ("/clinic", "/open-status", "/"):
        assert client.get(path).status_code == 200
    assert len(reads) == before  # the requests were written; the closures were not
    put_closure(client, closures.make_override("2026-12-02", "Staff training"))
    assert banner(client.get("/clinic").text).startswith("Closed today for Staff training")
    assert len(reads) == before + 1


def test_a_closure_made_by_another_process_shows_within_a_second(
    client, app, clock, settings, monkeypatch
):
    clock.set_local(2026, 11, 26, 10, 0, 0)
    assert banner(client.get("/clinic").text).startswith("Open now")
    with sqlite3.connect(settings.database_path) as conn:  # as the CLI would
        conn.execute(
            "INSERT INTO closures (day, reason, created_at) VALUES ('2026-11-26', 'Thanksgiving',"
            " '2026-11-20T00:00:00.000000Z')"
        )
    clock.advance(seconds=1)  # a second later, by the app's clock
    assert banner(client.get("/clinic").text).startswith("Closed today for Thanksgiving")


def test_an_edited_article_shows_without_a_restart(tmp_path, clock, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("*.db*", "secret_key"))
    app = create_app(make_settings(tmp_path, data_dir=data), clock=clock)
    path = data / "articles/does-ketamine-treat-depression.md"
    with TestClient(app) as client:
        assert (
            "Depression can make each day feel heavy"
            in client.get("/articles/does-ketamine-treat-depression").text
        )
        text = path.read_text().replace("Depression can make each day feel heavy",
                                        "A new opening sentence from the clinic")  # fmt: skip
        path.write_text(text)
        clock.advance(seconds=1)  # a second later, by the app's clock
        html = client.get("/articles/does-ketamine-treat-depression").text
        assert "A new opening sentence from the clinic" in html
        assert "A new opening sentence from the clinic" not in client.get("/clinic").text


def test_canonical_links_follow_the_host_when_no_base_url(client):
    assert 'href="http://testserver/clinic"' in client.get("/clinic").text
    other = client.get("http://localhost/clinic")
    assert '<link rel="canonical" href="http://localhost/clinic">' in other.text


@pytest.mark.anyio
async def test_concurrent_views_of_a_changed_dashboard_render_it_once(app, clock):
    import asyncio

    import httpx2

    from tests.helpers import EMAIL, PASSWORD, TOKEN_FIELD

    rendered = []
    original = app.ctx.templates.TemplateResponse

    def counting(request, name, *args, **kwargs):
        rendered.append(name)
        return original(request, name, *args, **kwargs)

    app.ctx.templates.TemplateResponse = counting
    async with app.router.lifespan_context(app):
        state = app.ctx
        await webapp_auth.create_staff(
            state.db, EMAIL, state.hasher.hash_sync(PASSWORD), state.clock()
        )
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as c:
            login = await c.get("/staff/login")
            token = TOKEN_FIELD.search(login.text).group(1)
            signed_in = await c.post(
                "/staff/login", data={"token": token, "email": EMAIL, "password": PASSWORD}
            )
            assert signed_in.status_code in (200, 303)
            rendered.clear()
            pages = await asyncio.gather(*(c.get("/staff") for _ in range(20)))
            assert {page.status_code for page in pages} == {200}
            # Each view waits on the database; without single flight all 20 would render.
            assert rendered.count("staff/dashboard.html") == 1


def test_a_page_without_a_form_is_made_once_per_trigger_step(client, app, clock, monkeypatch):
    """In the hour before a change the banner's delay counts down with every request; a page
    without a form is the same for everyone within a 50 ms step of it, so it is spliced once
    per step and encoding (a form page still gets its own token every time)."""
    made: list[bool] = []
    real = pagecache._reply

    def counted(entry, page, values, zipped, etag):
        made.append(entry.form)
        return real(entry, page, values, zipped, etag)

    monkeypatch.setattr(pagecache, "_reply", counted)
    browser = {"accept-encoding": "gzip"}
    clock.set(datetime(2026, 12, 1, 21, 59, 30, 10_000, tzinfo=UTC))  # 16:59:30.010 ET
    first = client.get("/clinic", headers=browser)
    clock.advance(seconds=0.02)  # the same step: the same delay, the same bytes
    second = client.get("/clinic", headers=browser)
    assert 'data-hx-trigger="load delay:30150ms, every 60s"' in first.text
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert made == [False]
    plain = client.get("/clinic", headers={"accept-encoding": "identity"})
    assert plain.text == first.text and "content-encoding" not in plain.headers
    assert made == [False, False]  # each encoding once
    clock.advance(seconds=0.08)  # the next step: 16:59:30.110, the delay 30050 ms
    third = client.get("/clinic", headers=browser)
    assert 'data-hx-trigger="load delay:30050ms, every 60s"' in third.text
    assert third.headers["etag"] != first.headers["etag"]
    assert made == [False, False, False]
    # The browser's copy from that step is still good within it: 304.
    again = client.get("/clinic", headers={**browser, "if-none-match": third.headers["etag"]})
    assert again.status_code == 304 and made == [False, False, False]
    # A page with a form: a new answer (and token) every time.
    tokens = {token_in(client.get("/consultation", headers=browser).text) for _ in range(3)}
    assert len(tokens) == 3 and made.count(True) == 3


def test_answers_kept_for_a_page_stay_few(client, app, clock):
    clock.set(datetime(2026, 12, 1, 21, 59, 0, tzinfo=UTC))  # the minute before closing
    for _ in range(40):
        clock.advance(seconds=0.05)
        client.get("/clinic", headers={"accept-encoding": "gzip"})
        client.get("/clinic", headers={"accept-encoding": "identity"})
    entries = [e for e in app.ctx.page_cache.entries.values() if not e.form]
    assert entries and all(len(e.replies) <= pagecache.REPLIES_KEPT for e in entries)


@pytest.mark.parametrize(
    "offset_us", [0, 1, 999, 1_000, 49_999, 50_000, 50_001, 123_456, 29_999_999]
)
def test_the_refresh_delay_is_rounded_up_never_down(offset_us):
    """Never earlier than the text's change plus the margin, and at most a step later."""
    now = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    change = now + timedelta(microseconds=offset_us)
    trigger = pagecache.refresh_trigger(now, change)
    delay_ms = int(re.fullmatch(r"load delay:(\d+)ms, every 60s", trigger).group(1))
    exact_ms = offset_us / 1000 + pagecache.REFRESH_MARGIN_MS
    assert exact_ms <= delay_ms < exact_ms + pagecache.TRIGGER_STEP_MS
    assert delay_ms % pagecache.TRIGGER_STEP_MS == 0
    # Past the minute: the plain poll; already past the change: the margin alone.
    assert pagecache.refresh_trigger(now, now + timedelta(seconds=61)) == "every 60s"
    assert (
        pagecache.refresh_trigger(now, now - timedelta(seconds=5)) == "load delay:150ms, every 60s"
    )
