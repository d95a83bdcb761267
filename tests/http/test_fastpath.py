"""The short path (webapp/fastpath.py) answers exactly what the full stack answers.

A cached page is asked for twice: once on the short path, and once with a query string,
which the short path leaves to the full stack (the page is the same: no view reads it).
Status, every header and the body (but the visitor's token) must be the same.
"""

from __future__ import annotations

import gzip

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import TOKEN_FIELD, token_in
from webapp.app import create_app
from webapp.fastpath import FastPath, page_key

ARTICLE = "/articles/does-ketamine-treat-depression"
PAGES = ["/", "/articles/", ARTICLE, "/clinic", "/privacy", "/consultation", "/open-status"]
FORM_PAGES = {"/", ARTICLE, "/consultation"}
# Instants (clinic-local, Wednesday 2026-12-02): open, closing soon, closed, opening soon, and
# the last seconds before the clinic opens and closes.
INSTANTS = [(12, 0, 0), (16, 30, 0), (23, 0, 0), (8, 30, 0), (8, 59, 45), (16, 59, 30)]


class Spy:
    """Counts what the short path passes on to the full stack."""

    def __init__(self, app) -> None:
        self.app = app
        self.calls: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.calls.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
def spy(app) -> Spy:
    stack = app.build_middleware_stack()
    assert isinstance(stack, FastPath)
    stack.app = Spy(stack.app)
    app.middleware_stack = stack
    return stack.app


def slow(path: str) -> str:
    return path + ("&" if "?" in path else "?") + "full-stack"


def comparable(response) -> tuple[int, dict[str, str], str]:
    headers = dict(response.headers)
    text = response.text
    if "token" in text:
        text = TOKEN_FIELD.sub("TOKEN", text)
    if headers.get("content-encoding") == "gzip":
        headers.pop("content-length")  # differs with the token's length only
    return response.status_code, headers, text


@pytest.mark.parametrize("instant", INSTANTS)
@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_the_short_path_answers_what_the_full_stack_answers(
    client, clock, spy, path, instant, encoding
):
    clock.set_local(2026, 12, 2, *instant)
    headers = {"accept-encoding": encoding}
    client.get(path, headers=headers)  # rendered and cached by the full stack
    spy.calls.clear()
    fast = client.get(path, headers=headers)
    assert spy.calls == []  # answered by the short path
    full = client.get(slow(path), headers=headers)
    assert spy.calls == [path]
    assert comparable(fast) == comparable(full)
    # (The banner fragment alone is too small to be worth compressing.)
    zipped = encoding == "gzip" and path != "/open-status"
    assert ("content-encoding" in fast.headers) == zipped


@pytest.mark.parametrize("path", PAGES)
def test_head_gets_the_same_headers_and_no_body(client, spy, path):
    client.get(path)
    spy.calls.clear()
    fast = client.head(path)
    full = client.head(slow(path))
    assert spy.calls == [path]
    assert fast.status_code == full.status_code == 200
    assert fast.content == full.content == b""
    same = {"content-length"} if path in FORM_PAGES else set()  # the token's length varies
    assert {k: v for k, v in fast.headers.items() if k not in same} == {
        k: v for k, v in full.headers.items() if k not in same
    }


@pytest.mark.parametrize("path", ["/clinic", "/privacy", "/articles/"])
def test_etags_and_304_on_both_paths(client, spy, path):
    first = client.get(path)
    etag = first.headers["etag"]
    for asked in (path, slow(path)):
        again = client.get(asked, headers={"if-none-match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["content-security-policy"]
        assert "content-type" not in again.headers
    assert spy.calls.count(path) == 2  # the first view and the slow 304


def test_in_the_last_minute_the_etag_follows_the_countdown(client, clock):
    clock.set_local(2026, 12, 2, 16, 59, 0)
    one = client.get("/clinic")
    clock.set_local(2026, 12, 2, 16, 59, 30)
    two = client.get("/clinic", headers={"if-none-match": one.headers["etag"]})
    assert two.status_code == 200  # the trigger in the page changed: a new body
    assert two.headers["etag"] != one.headers["etag"]
    assert 'data-hx-trigger="load delay:30150ms, every 60s"' in two.text
    again = client.get("/clinic", headers={"if-none-match": two.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", sorted(FORM_PAGES))
def test_every_response_on_the_short_path_has_its_own_valid_token(app, client, clock, path):
    client.get(path)
    pages = [client.get(path, headers={"accept-encoding": e}) for e in ("gzip", "identity") * 3]
    tokens = [token_in(page.text) for page in pages]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert app.ctx.form_tokens.read(token, clock()).nonce


def test_the_gzip_stream_is_valid_on_the_short_path(app, clock):
    with TestClient(app) as client:
        client.get("/")
        for _ in range(3):
            with client.stream("GET", "/", headers={"accept-encoding": "gzip"}) as response:
                body = b"".join(response.iter_raw())
            assert "full-stack" not in response.url.query.decode()
            html = gzip.decompress(body).decode()  # checks the CRC-32 and length
            assert "<main" in html and token_in(html)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"host": "evil.example"}, "unknown host"),
        ({"content-length": "5"}, "a body"),
        ({"transfer-encoding": "chunked"}, "a body"),
    ],
)
def test_what_the_outer_layers_judge_goes_to_them(client, spy, headers, reason):
    client.get("/clinic")
    spy.calls.clear()
    response = client.request("GET", "/clinic", headers=headers, content=b"" if headers else None)
    assert spy.calls == ["/clinic"], reason
    if "host" in headers:
        assert response.status_code == 400


def test_https_only_redirects_before_the_short_path(tmp_path, clock):
    settings = make_settings(tmp_path, https_only=True)
    with TestClient(create_app(settings, clock=clock), base_url="https://testserver") as client:
        assert client.get("/clinic").status_code == 200  # cached, over https
        plain = client.get("http://testserver/clinic", follow_redirects=False)
        assert plain.status_code == 301
        assert plain.headers["location"] == "https://testserver/clinic"


def test_other_methods_and_paths_go_to_the_full_stack(client, spy):
    client.get("/clinic")
    spy.calls.clear()
    assert client.post("/clinic").status_code == 405
    assert client.get("/robots.txt").status_code == 200
    assert client.get("/articles/no-such-article").status_code == 404
    assert spy.calls == ["/clinic", "/robots.txt", "/articles/no-such-article"]


@pytest.mark.parametrize(
    ("path", "query", "key"),
    [
        ("/", None, "home"),
        ("/", b"x=1", None),
        ("/clinic", None, "clinic"),
        ("/articles/", None, "articles"),
        (ARTICLE, None, ("article", ARTICLE.rsplit("/", 1)[1])),
        ("/articles/a/b", None, None),
        ("/open-status", None, ("open-status", None)),
        ("/open-status", b"was=closing_soon", ("open-status", "closing_soon")),
        ("/open-status", b"was=junk", None),
        ("/staff", None, None),
        ("/static/css/site.css", None, None),
    ],
)
def test_page_keys(path, query, key):
    assert page_key(path, query) == key


def test_a_broken_database_is_left_to_the_full_stack(app, monkeypatch):
    async def broken(*args, **kwargs):
        raise OSError("disk I/O error")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/clinic").status_code == 200
        app.ctx.closure_cache._recheck.reset()
        monkeypatch.setattr(app.ctx.db, "fetchall", broken)
        page = client.get("/clinic")
        assert page.status_code == 500
        assert "Something went wrong" in page.text
