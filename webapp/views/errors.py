"""Error pages: clear words and the right status, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ExceptionHandler

from webapp.context import ctx
from webapp.logs import access_fields
from webapp.storage import StorageUnavailable
from webapp.views.common import is_htmx, render

log = logging.getLogger(__name__)

TITLES = {
    400: "That request could not be understood",
    403: "That action is not allowed",
    404: "Page not found",
    405: "That action is not available here",
    408: "The request took too long to arrive",
    413: "That was more than the site can accept",
    422: "Some details need another look",
    429: "Too many requests",
    503: "We cannot save anything just now",
}
UNSAVED = (
    "Nothing was saved. Please try again in a few minutes. If you were typing something, "
    "go back to it: what you typed should still be there."
)


async def http_error(request: Request, exc: Exception) -> Response:
    """4xx pages with the site's navigation, so a visitor can find their way on."""
    assert isinstance(exc, HTTPException)
    code = exc.status_code
    if code in (204, 304):
        return Response(status_code=code, headers=exc.headers)
    title = TITLES.get(code, "Something went wrong with that request")
    # Starlette's default detail is the bare reason phrase; only show details we wrote.
    detail = exc.detail if exc.detail and exc.detail[:1].isupper() and " " in exc.detail else ""
    context = {"title": title, "detail": detail, "code": code, "robots": "noindex"}
    if request.url.path.startswith("/staff"):
        exc.headers = {**(exc.headers or {}), "Cache-Control": "no-store"}
    if is_htmx(request):
        # Never swap an error page into a fragment: the form keeps what was typed and
        # static/js/site.js says what went wrong.
        headers = {**(exc.headers or {}), "HX-Reswap": "none"}
        return PlainTextResponse(f"{title}. {detail}".strip(), status_code=code, headers=headers)
    try:
        return await render(
            request, "errors/error.html", context, status_code=code, headers=exc.headers
        )
    except Exception:  # the page must not fail because the banner's data did
        log.exception("error page rendering failed")
        return PlainTextResponse(f"{code} {title}\n", status_code=code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    """The 500 page: static, no database, nothing about the failure itself."""
    # The path as an access line shows it (no reference, no query string: webapp.logs).
    _, path = access_fields("", request.url.path, log_client_address=False)
    log.error("unhandled error on %s %s", request.method, path, exc_info=exc)
    try:
        app = ctx(request)
        template = app.templates.get_template("errors/500.html")
        html = template.render(clinic=app.clinic, request=request)
        return HTMLResponse(html, status_code=500, headers={"Cache-Control": "no-store"})
    except Exception:
        return PlainTextResponse("500 Internal Server Error\n", status_code=500)


async def storage_error(request: Request, exc: Exception) -> Response:
    """503 when the database cannot take a write: no traceback (the database logged the
    incident once), a page that says nothing was saved."""
    headers = {"Retry-After": "60", "Cache-Control": "no-store"}
    return await http_error(request, HTTPException(503, UNSAVED, headers))


handlers: dict[Any, ExceptionHandler] = {
    HTTPException: http_error,
    StorageUnavailable: storage_error,
    Exception: server_error,
}
