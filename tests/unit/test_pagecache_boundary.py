"""The page cache is the boundary that keeps per-visitor tokens from being shared."""

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


def page(body: str) -> HTMLResponse:
    return HTMLResponse(f"<form><input name=token value={body}></form>")


def serve(build, *, form: bool) -> str:
    cache = PageCache()
    token = (lambda: TOKENS.issue(NOW)) if form else None
    response = asyncio.run(cache.page(request(), "key", NOW, 1, build, token))
    return bytes(response.body).decode()


def test_a_form_page_gets_a_fresh_token_in_place_of_the_placeholder():
    async def build(placeholder: str | None) -> Built:
        assert placeholder == TOKEN_MARK
        return Built(page(placeholder), LATER)

    cache = PageCache()
    bodies = [
        bytes(
            asyncio.run(cache.page(request(), "key", NOW, 1, build, lambda: TOKENS.issue(NOW))).body
        ).decode()
        for _ in range(3)
    ]
    assert len(set(bodies)) == 3
    assert all(TOKEN_MARK not in body for body in bodies)


def test_a_form_page_without_the_placeholder_is_an_error():
    async def forgot(_: str | None) -> Built:
        return Built(page("fixed-token"), LATER)

    with pytest.raises(CacheError, match="one token placeholder"):
        serve(forgot, form=True)


def test_issuing_a_real_token_while_building_a_shared_page_is_an_error():
    async def issues_its_own(_: str | None) -> Built:
        return Built(page(TOKENS.issue(NOW)), LATER)

    with pytest.raises(RuntimeError, match="shared page"):
        serve(issues_its_own, form=True)
    with pytest.raises(RuntimeError, match="shared page"):
        serve(issues_its_own, form=False)
    # Outside a shared build, tokens are issued as usual.
    assert TOKENS.issue(NOW)


def test_a_page_without_a_form_may_not_carry_the_placeholder():
    async def stray(_: str | None) -> Built:
        return Built(page(TOKEN_MARK), LATER)

    with pytest.raises(CacheError, match="without a form"):
        serve(stray, form=False)


@pytest.mark.parametrize("body", ["no marker", TOKEN_MARK + TOKEN_MARK])
def test_make_entry_wants_exactly_one_placeholder_in_a_form_page(body):
    with pytest.raises(CacheError):
        make_entry(HTMLResponse(body), NOW, LATER, 1, form=True)
