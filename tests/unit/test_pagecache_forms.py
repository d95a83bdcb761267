"""A shared page with a form that was not declared a form page cannot be cached either: the
token field it carries would hold one value for every visitor (a token issued before the
build), or none at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from starlette.datastructures import Secret
from starlette.requests import Request
from starlette.responses import HTMLResponse

from webapp.pagecache import Built, CacheError, PageCache, make_entry
from webapp.security import TOKEN_MARK, FormTokens

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
TOKENS = FormTokens((Secret("k" * 40),), "consultation-form", timedelta(hours=1))


def request() -> Request:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    return Request(scope)


def form_page(token: str) -> HTMLResponse:
    return HTMLResponse(
        '<main><form method="post"><input type="hidden" name="token" value="'
        + token
        + '"><button>Send</button></form></main>'
    )


def test_a_token_issued_before_the_build_is_refused():
    early = TOKENS.issue(NOW)  # outside the shared build: issuing it does not raise

    async def forgot_form_true(_: str | None) -> Built:
        return Built(form_page(early), LATER)

    cache = PageCache()
    with pytest.raises(CacheError, match="token field"):
        asyncio.run(cache.page(request(), "key", NOW, 1, forgot_form_true))
    assert cache.entries == {}


@pytest.mark.parametrize("value", ["", "None", "anything"])
def test_a_token_field_without_the_placeholder_is_refused(value):
    with pytest.raises(CacheError, match="token field"):
        make_entry(form_page(value), NOW, LATER, 1, form=False)
    with pytest.raises(CacheError, match="token field"):
        make_entry(form_page(value), NOW, LATER, 1, form=True)


@pytest.mark.parametrize(
    "markup",
    [
        '<INPUT value="x" type=hidden name="token">',
        '<input name="token" type="hidden"\n value="x">',
        '<input type="hidden" name="token">',
    ],
)
def test_the_field_is_found_however_it_is_written(markup):
    with pytest.raises(CacheError, match="token field"):
        make_entry(HTMLResponse(f"<form>{markup}</form>"), NOW, LATER, 1, form=False)


def test_a_declared_form_page_with_the_placeholder_is_cached():
    entry = make_entry(form_page(TOKEN_MARK), NOW, LATER, 1, form=True)
    assert entry.page.slots == ("token",)


def test_a_page_without_a_form_is_cached():
    entry = make_entry(HTMLResponse("<p>name=token value=x</p>"), NOW, LATER, 1, form=False)
    assert entry.page.slots == ()
