"""The request guard (webapp/server.py) through the ASGI interface: framing, junk queries,
bodies that do not arrive, and connections closed when a body was left unread."""

from __future__ import annotations

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.helpers import form, new_token
from webapp.server import RequestGuard

HEADERS = [(b"x-content-type-options", b"nosniff")]


async def echo_length(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def guarded(body_seconds: float = 5) -> RequestGuard:
    app = Starlette(routes=[Route("/", echo_length, methods=["GET", "POST"])])
    return RequestGuard(app, body_seconds, HEADERS)


def scope(headers: list[tuple[bytes, bytes]], query: bytes = b"", method: str = "POST") -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": "/", "raw_path": b"/", "root_path": "", "query_string": query,
        "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }  # fmt: skip


async def call(
    app, scope: dict, chunks: list[bytes], pause: float = 0, *, complete: bool = True
) -> tuple[int, dict, bytes]:
    """Run one request; `chunks` of body arrive `pause` seconds apart; unless `complete`,
    the client then stalls with the body unfinished."""
    sent: list[dict] = []
    pending = list(chunks) or [b""]

    async def receive() -> dict:
        if not pending:
            await anyio.sleep_forever()
        await anyio.sleep(pause)
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending) or not complete}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
        [(b"transfer-encoding", b"chunked"), (b"content-length", b"0")],
        [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"5")],
    ],
)
async def test_length_and_chunked_together_are_refused_and_closed(headers):
    status, sent_headers, body = await call(guarded(), scope(headers), [b"0\r\n\r\n"])
    assert status == 400
    assert sent_headers["connection"] == "close"
    assert sent_headers["x-content-type-options"] == "nosniff"
    assert b"Content-Length and Transfer-Encoding" in body


@pytest.mark.anyio
@pytest.mark.parametrize("query", [b"q=ab%00cd", b"q=%01", b"was=%7f", b"q=a%0Ab", b"q=\x00"])
async def test_control_characters_in_the_query_are_refused(query):
    status, _, body = await call(guarded(), scope([], query, "GET"), [])
    assert status == 400 and b"control characters" in body


@pytest.mark.anyio
@pytest.mark.parametrize("query", [b"q=ab%09cd", b"q=%C3%A9t%C3%A9", b"q=a+b", b"q=%ff"])
async def test_ordinary_queries_pass(query):
    assert (await call(guarded(), scope([], query, "GET"), []))[0] == 200


@pytest.mark.anyio
async def test_a_body_that_arrives_in_time_is_read_and_the_connection_kept():
    headers = [(b"content-length", b"6")]
    status, sent, body = await call(guarded(1), scope(headers), [b"abc", b"def"], pause=0.05)
    assert (status, body) == (200, b"6")
    assert "connection" not in sent


@pytest.mark.anyio
async def test_a_body_that_does_not_arrive_in_time_gets_408_and_closes():
    headers = [(b"content-length", b"1000")]
    with anyio.fail_after(5):
        status, sent, _ = await call(
            guarded(0.3), scope(headers), [b"a", b"b"], pause=0.1, complete=False
        )
    assert status == 408
    assert sent["connection"] == "close"


@pytest.mark.anyio
async def test_a_trickle_is_timed_from_the_start_not_per_chunk():
    headers = [(b"content-length", b"1000")]
    chunks = [b"x"] * 50  # each in time on its own, together far too slow
    with anyio.fail_after(5):
        status, _, _ = await call(guarded(0.5), scope(headers), chunks, pause=0.05)
    assert status == 408


def test_an_answer_before_the_body_is_read_closes_the_connection(client):
    # GET-only page: 405 without reading the body that came with the request.
    response = client.post("/clinic", content=b"x" * 100)
    assert response.status_code == 405
    assert response.headers["connection"] == "close"


def test_a_read_body_keeps_the_connection(client, clock):
    response = client.post("/consultation", data=form(new_token(client, clock)),
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert "connection" not in response.headers


def test_the_staff_search_with_a_nul_is_refused_not_500(client):
    for path in ("/staff?q=ab%00cd", "/staff/requests.csv?q=ab%00cd"):
        assert client.get(path, follow_redirects=False).status_code == 400
