"""What a first visit to the article costs on the wire, kept under the goal in every test run.

`make bench` measures it in Chromium (issue 14: at most 25 KB and 5 requests, no web fonts,
nothing from another site); the margin is a few hundred bytes, so a longer page, a new
header or a bigger stylesheet could pass every other test and break the goal. This counts
what Chromium counts for HTTP/1.1: each response's status line, headers (uvicorn's Date
included, which the test client does not add) and body as sent, compressed as a browser
that offers "gzip, deflate, br, zstd" receives it.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.perf.bench import Subresources
from webapp.app import create_app

BUDGET_BYTES = 25_000
BUDGET_REQUESTS = 5
ARTICLE = "/articles/does-ketamine-treat-depression"
BROWSER = {"Accept-Encoding": "gzip, deflate, br, zstd"}
DATE_LINE = len("date: Wed, 02 Dec 2026 19:00:00 GMT\r\n")


def on_the_wire(response: Any) -> int:
    """Status line, headers and the body as sent (its Content-Length: before decoding)."""
    status = HTTPStatus(response.status_code)
    line = len(f"HTTP/1.1 {status.value} {status.phrase}\r\n")
    headers = sum(len(k) + len(v) + 4 for k, v in response.headers.items())
    return line + headers + DATE_LINE + 2 + int(response.headers["content-length"])


def first_visit(client) -> list[tuple[str, Any]]:
    page = client.get(ARTICLE, headers=BROWSER)
    assert page.status_code == 200
    parser = Subresources()
    parser.feed(page.text)
    fetched = [(ARTICLE, page)]
    for url in parser.urls:
        parts = urlsplit(url)
        # Nothing from another site: every subresource is the site's own.
        assert not parts.netloc or parts.netloc == client.base_url.netloc.decode(), url
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        fetched.append((path, client.get(path, headers=BROWSER)))
    return fetched


@pytest.fixture(params=["as bench runs it", "as deployed"])
def visitor(request, tmp_path: Path, clock):
    """The site with its defaults (what `make bench` measures), and as docs/deploy.md
    runs it: HTTPS only (HSTS and upgrade-insecure-requests on every response) and its
    public address in every canonical link."""
    deployed = request.param == "as deployed"
    overrides: dict[str, Any] = (
        {
            "https_only": True,
            "base_url": "https://www.example.org",
            "allowed_hosts": ("www.example.org",),
        }
        if deployed
        else {}
    )
    app = create_app(make_settings(tmp_path, **overrides), clock=clock)
    base = "https://www.example.org" if deployed else "http://testserver"
    with TestClient(app, base_url=base) as client:
        yield client


def test_the_first_visit_to_the_article_stays_within_the_goal(visitor):
    fetched = first_visit(visitor)
    sizes = {path: on_the_wire(response) for path, response in fetched}
    detail = ", ".join(f"{path} {size:,} B" for path, size in sizes.items())
    assert len(fetched) <= BUDGET_REQUESTS, detail
    assert sum(sizes.values()) <= BUDGET_BYTES, detail
    for path, response in fetched:
        assert response.status_code == 200, path
        # Every text response leaves compressed (gzip or brotli): the budget depends on it.
        assert response.headers["content-encoding"] in ("gzip", "br"), path
        # No web fonts: the system's own are used.
        assert not path.endswith((".woff", ".woff2", ".ttf", ".otf")), path


def test_the_count_sees_a_heavier_page(client):
    """The count is the one the budget needs: a page's bytes, its headers and every
    subresource add up (here, checked against the sizes the responses state)."""
    fetched = first_visit(client)
    assert len(fetched) == 3  # the page, its stylesheet, its script (htmx and the site's)
    for _, response in fetched:
        body = int(response.headers["content-length"])
        assert on_the_wire(response) > body + DATE_LINE
        # The stated length is the compressed one: smaller than what the client decoded.
        assert body < len(response.content)
