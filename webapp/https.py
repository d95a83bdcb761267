"""HTTPS_ONLY=true: send plain-HTTP requests to https, as pure ASGI middleware.

Whether a request came over HTTPS is the scheme uvicorn gives it: behind a TLS-terminating
proxy listed in FORWARDED_ALLOW_IPS, that is the proxy's X-Forwarded-Proto; from anyone else
the header is ignored. GET and HEAD get 301; other methods 308, which keeps the method and
body (a form posted over HTTP is sent again over HTTPS, never turned into a GET).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

# Health checks come from the machine itself over plain HTTP.
EXEMPT = frozenset({"/healthz"})


def without_port(host: str) -> str:
    """A Host header's name ("[::1]:8000" -> "[::1]", "example.org:80" -> "example.org"):
    the https address uses the default port."""
    host = host.strip()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def https_location(host: str, raw_path: bytes | None, path: str, query: bytes) -> str:
    """The https:// address of the same resource, on the host the client asked for."""
    host = without_port(host)
    target = raw_path.decode("latin-1") if raw_path else path
    # Never a scheme-relative or absolute URL smuggled in as the path.
    target = "/" + target.lstrip("/")
    return f"https://{host}{target}" + (f"?{query.decode('latin-1')}" if query else "")


class HttpsRedirectMiddleware:
    """Redirect every plain-HTTP request (but EXEMPT paths) to https."""

    def __init__(self, app: ASGIApp, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.enabled
            or scope["type"] != "http"
            or scope.get("scheme") != "http"
            or scope["path"] in EXEMPT
        ):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        location = https_location(host, scope.get("raw_path"), scope["path"],
                                  scope.get("query_string", b""))  # fmt: skip
        status = 301 if scope["method"] in ("GET", "HEAD") else 308
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"content-type", b"text/plain; charset=utf-8"),
                ],
            }
        )
        body = b"" if scope["method"] == "HEAD" else f"Moved to {location}\n".encode("latin-1")
        await send({"type": "http.response.body", "body": body})
