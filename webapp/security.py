"""Security headers, Host checking and a request-body cap, as pure ASGI middleware."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import Headers, Secret
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.settings import Settings

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The marker rendered in place of the form token in shared (cached) pages; never sent.
TOKEN_MARK = "0-form-token-placeholder-0"  # noqa: S105 (a marker, not a secret)
# True while a page that will be shared between visitors is being rendered: no real form
# token may be issued then (it would be handed to every visitor).
shared_render: ContextVar[bool] = ContextVar("shared_render", default=False)


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers every response carries, static files and errors included."""
    csp = CSP + ("; upgrade-insecure-requests" if settings.https_only else "")
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        # A visitor's path on a mental-health site is nobody else's business.
        (b"referrer-policy", b"same-origin"),
        (b"permissions-policy", PERMISSIONS.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if settings.https_only:
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return headers


def host_allowed(host_header: str, allowed: tuple[str, ...]) -> bool:
    """True when the Host header (port stripped) names one of the allowed hosts."""
    host = host_header.strip().lower()
    if host.startswith("["):  # IPv6 literal, e.g. [::1]:8000
        host = host[: host.find("]") + 1]
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if not host:
        return False
    return "*" in allowed or host in allowed


class SecurityMiddleware:
    """Outermost layer: refuses unknown hosts, adds security headers to every response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = settings.allowed_hosts
        self.headers = security_headers(settings)
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = [(k, v) for k, v in message.get("headers", []) if k not in self.names]
                message["headers"] = existing + self.headers
            await send(message)

        host = Headers(scope=scope).get("host", "")
        if not host_allowed(host, self.allowed):
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send_with_headers(
                {"type": "http.response.body", "body": b"400 Bad Request: unknown host name\n"}
            )
            return
        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Caps request bodies: 413 from the Content-Length, or as soon as the stream passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        received = 0

        # Raised from receive(), i.e. inside the route, so the app's error pages answer.
        async def counted() -> Message:
            nonlocal received
            if received == 0 and declared is not None:
                if not declared.isdigit():
                    raise HTTPException(400, "The request's Content-Length is not a number.")
                if int(declared) > self.max_bytes:
                    raise HTTPException(413, "The request is too large.")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, "The request is too large.")
            return message

        await self.app(scope, counted, send)


def is_cross_origin(request: Request, base_url: str = "") -> bool:
    """True when a browser says an unsafe request comes from another site (Fetch Metadata,
    else Origin). Requests without either header (non-browser clients) are not refused here:
    they still need a valid form token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    # The scheme as uvicorn set it (behind a trusted proxy, the forwarded one): what
    # request.url.scheme says, without building the whole URL on every form post.
    own = f"{request.scope.get('scheme', 'http')}://{request.headers.get('host', '')}".lower()
    return origin.lower() not in {own, base_url.lower()} or origin == "null"


class BadToken(Exception):
    """A form token that is missing, forged or from another purpose."""


class ExpiredToken(Exception):
    """A genuine form token that is too old to use."""


@dataclass(frozen=True)
class TokenInfo:
    """What a valid form token says: its single-use id and its age."""

    nonce: str
    age: timedelta


class FormTokens:
    """Signed, expiring, single-use form tokens (the form's CSRF token and replay key)."""

    def __init__(self, keys: tuple[Secret, ...], salt: str, max_age: timedelta) -> None:
        # itsdangerous signs with the last key and verifies with all: newest goes last.
        self._serializer = URLSafeSerializer(
            [str(k) for k in reversed(keys)],
            salt=salt,
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        self.max_age = max_age
        # Issuing is on every page with the form: the serializer's own signing (the key
        # derived again, the payload offered to zlib) costs more than the page. The same
        # bytes are made here with the derived key's HMAC prepared once.
        signer = self._serializer.make_signer()
        self._mac = hmac.new(signer.derive_key(), digestmod=hashlib.sha256)
        # Reading is on every submission: the same check as the serializer's, each key's
        # derived HMAC prepared once, newest first (the serializer derives them per call).
        self._verifiers = tuple(
            hmac.new(signer.derive_key(str(key)), digestmod=hashlib.sha256) for key in keys
        )

    def issue(self, now: datetime) -> str:
        """A fresh token stamped with the instant the form was rendered."""
        if shared_render.get():
            raise RuntimeError("a form token was issued while rendering a shared page")
        # JSON for {"n": nonce, "t": seconds}: the nonce is URL-safe base64 (22 characters),
        # the seconds have 6 decimals, so every token has the same length (the page cache
        # compresses around it knowing that).
        nonce = secrets.token_urlsafe(16)
        return self._sign(f'{{"n":"{nonce}","t":{now.timestamp():.6f}}}'.encode())

    def _sign(self, payload: bytes) -> str:
        """What URLSafeSerializer.dumps makes of a JSON payload (uncompressed: `read` takes
        both forms)."""
        value = base64.urlsafe_b64encode(payload).rstrip(b"=")
        mac = self._mac.copy()
        mac.update(value)
        signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
        return (value + b"." + signature).decode("ascii")

    def _load(self, token: str) -> Any:
        """What URLSafeSerializer.loads returns for a token, for the form `issue` makes
        without the serializer's per-call work. A compressed payload (a leading ".") goes to
        the serializer; a signature is taken only as `_sign` writes it (canonical base64)."""
        raw = token.encode("ascii")
        value, dot, signature = raw.rpartition(b".")
        if not dot or value.startswith(b"."):
            return self._serializer.loads(token)
        for verifier in self._verifiers:
            mac = verifier.copy()
            mac.update(value)
            if hmac.compare_digest(base64.urlsafe_b64encode(mac.digest()).rstrip(b"="), signature):
                return json.loads(base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4)))
        raise BadSignature("the signature does not match")

    def read(self, token: str, now: datetime) -> TokenInfo:
        """Check a token; BadToken or ExpiredToken say why it cannot be used."""
        if not token or len(token) > 200:
            raise BadToken
        try:
            data = self._load(token)
            nonce, issued = str(data["n"]), float(data["t"])
        except (BadSignature, KeyError, TypeError, ValueError):
            raise BadToken from None
        age = now - datetime.fromtimestamp(issued, UTC)
        if age > self.max_age:
            raise ExpiredToken
        return TokenInfo(nonce, max(age, timedelta(0)))
