"""Security headers on every response, Host checking and the body cap."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import make_settings
from webapp.app import create_app
from webapp.security import BodyLimitMiddleware, host_allowed

PATHS = [
    "/",
    "/clinic",
    "/open-status",
    "/healthz",
    "/robots.txt",
    "/sitemap.xml",
    "/nope",
    "/static/css/site.css",
]


def assert_security_headers(response, *, hsts: bool = False):
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "camera=()" in response.headers["permissions-policy"]
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert ("strict-transport-security" in response.headers) is hsts
    assert "server" not in response.headers


@pytest.mark.parametrize("path", PATHS)
def test_every_response_carries_security_headers(client, path):
    assert_security_headers(client.get(path))


def test_https_only_adds_hsts_and_upgrade(tmp_path, clock):
    app = create_app(make_settings(tmp_path, https_only=True), clock=clock)
    with TestClient(app, base_url="https://testserver") as client:
        response = client.get("/")
        assert_security_headers(response, hsts=True)
        assert "max-age=63072000" in response.headers["strict-transport-security"]
        assert "upgrade-insecure-requests" in response.headers["content-security-policy"]


@pytest.mark.parametrize("host", ["evil.example", "testserver.evil.example", "", "127.0.0.2"])
def test_unknown_host_is_refused_with_400(client, host):
    response = client.get("/", headers={"host": host})
    assert response.status_code == 400
    assert "unknown host" in response.text
    assert_security_headers(response)


@pytest.mark.parametrize(
    ("header", "allowed", "expected"),
    [
        ("testserver", ("testserver",), True),
        ("TestServer:8000", ("testserver",), True),
        ("[::1]:8000", ("[::1]",), True),
        ("::1", ("[::1]",), False),
        ("other", ("testserver",), False),
        ("anything", ("*",), True),
        ("", ("*",), False),
    ],
)
def test_host_allowed(header, allowed, expected):
    assert host_allowed(header, allowed) is expected


def body_app() -> TestClient:
    async def echo(request: Request) -> PlainTextResponse:
        form = await request.form()
        return PlainTextResponse(str(len(form.get("text", ""))))

    async def on_http(request: Request, exc: Exception) -> PlainTextResponse:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(exc.detail, status_code=exc.status_code)

    app = Starlette(
        routes=[Route("/echo", echo, methods=["POST"])],
        middleware=[Middleware(BodyLimitMiddleware, max_bytes=1000)],
        exception_handlers={HTTPException: on_http},
    )
    return TestClient(app)


def test_body_within_limit_is_read():
    response = body_app().post("/echo", data={"text": "x" * 900})
    assert response.status_code == 200
    assert response.text == "900"


def test_body_over_declared_limit_is_413():
    response = body_app().post("/echo", data={"text": "x" * 1200})
    assert response.status_code == 413
    assert response.text == "The request is too large."


def test_streamed_body_over_limit_is_413_without_content_length():
    def chunks():
        yield b"text="
        for _ in range(20):
            yield b"x" * 100

    response = body_app().post(
        "/echo", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


def test_bad_content_length_is_400():
    response = body_app().post(
        "/echo",
        content=b"text=a",
        headers={"content-length": "abc", "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


def test_templates_autoescape_everything(app):
    env = app.ctx.templates.env
    assert env.from_string("{{ x }}").render(x="<script>") == "&lt;script&gt;"
    assert env.auto_reload is False
