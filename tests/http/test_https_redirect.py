"""HTTPS_ONLY=true: plain-HTTP requests go to https (301 GET/HEAD, 308 otherwise), judged from
the scheme uvicorn gives a request (a trusted proxy's X-Forwarded-Proto), never from a
header anyone else sends."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tests.conftest import make_settings
from webapp.app import create_app
from webapp.https import HttpsRedirectMiddleware, https_location, without_port


@pytest.fixture
def https_app(tmp_path, clock):
    settings = make_settings(tmp_path, https_only=True, base_url="https://testserver")
    return create_app(settings, clock=clock)


@pytest.mark.parametrize(
    ("method", "status"),
    [("GET", 301), ("HEAD", 301), ("POST", 308), ("PUT", 308), ("DELETE", 308), ("PATCH", 308)],
)
def test_plain_http_is_redirected(https_app, method, status):
    with TestClient(https_app, base_url="http://testserver") as client:
        response = client.request(method, "/staff/login?next=%2Fstaff", follow_redirects=False)
    assert response.status_code == status
    assert response.headers["location"] == "https://testserver/staff/login?next=%2Fstaff"
    # The security headers come with the redirect too (HSTS most of all).
    assert "max-age=63072000" in response.headers["strict-transport-security"]
    assert "aki_staff" not in response.headers.get("set-cookie", "")


def test_a_form_posted_over_http_is_not_read(https_app):
    with TestClient(https_app, base_url="http://testserver") as client:
        response = client.post(
            "/staff/login", data={"email": "x@example.org", "password": "y"}, follow_redirects=False
        )
    assert response.status_code == 308
    assert "That email" not in response.text


def test_https_requests_are_served(https_app):
    with TestClient(https_app, base_url="https://testserver") as client:
        assert client.get("/staff/login").status_code == 200
        assert client.get("/").status_code == 200


def test_without_https_only_nothing_is_redirected(client):
    assert client.get("/staff/login", follow_redirects=False).status_code == 200


def test_an_unknown_host_is_refused_before_any_redirect(https_app):
    with TestClient(https_app, base_url="http://testserver") as client:
        response = client.get("/", headers={"host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


def behind_proxy(app, trusted: str) -> ProxyHeadersMiddleware:
    """What `python -m webapp serve` does with FORWARDED_ALLOW_IPS set."""
    return ProxyHeadersMiddleware(app, trusted_hosts=trusted)


def test_the_trusted_proxys_forwarded_proto_decides(https_app):
    wrapped = behind_proxy(https_app, "127.0.0.1")
    with TestClient(wrapped, base_url="http://testserver", client=("127.0.0.1", 5000)) as client:
        https = client.get("/", headers={"x-forwarded-proto": "https"}, follow_redirects=False)
        plain = client.get("/", headers={"x-forwarded-proto": "http"}, follow_redirects=False)
    assert https.status_code == 200
    assert plain.status_code == 301 and plain.headers["location"] == "https://testserver/"


def test_an_untrusted_client_cannot_claim_https(https_app):
    wrapped = behind_proxy(https_app, "127.0.0.1")
    with TestClient(wrapped, base_url="http://testserver", client=("203.0.113.5", 5000)) as client:
        response = client.get("/", headers={"x-forwarded-proto": "https"}, follow_redirects=False)
    assert response.status_code == 301


@pytest.mark.parametrize(
    ("host", "raw", "query", "expected"),
    [
        ("example.org", b"/", b"", "https://example.org/"),
        ("example.org:80", b"/a", b"b=1", "https://example.org/a?b=1"),
        ("[::1]:8000", b"/x", b"", "https://[::1]/x"),
        ("example.org", b"//evil.example/path", b"", "https://example.org/evil.example/path"),
        ("example.org", b"/caf%C3%A9", b"q=%20", "https://example.org/caf%C3%A9?q=%20"),
    ],
)
def test_https_location(host, raw, query, expected):
    assert https_location(host, raw, raw.decode(), query) == expected


def test_without_port():
    assert without_port("Example.org:8443") == "Example.org"
    assert without_port("[2001:db8::1]:443") == "[2001:db8::1]"
    assert without_port("2001:db8::1") == "2001:db8::1"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_middleware_passes_https_lifespan_and_health_checks(anyio_backend):
    seen = []

    async def inner(scope, receive, send):
        seen.append(scope.get("path", scope["type"]))

    middleware = HttpsRedirectMiddleware(inner, enabled=True)
    await middleware({"type": "lifespan"}, None, None)
    await middleware({"type": "http", "scheme": "https", "path": "/", "method": "GET"}, None, None)
    health = {"type": "http", "scheme": "http", "path": "/healthz", "method": "GET"}
    await middleware(health, None, None)
    assert seen == ["lifespan", "/", "/healthz"]
