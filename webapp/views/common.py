"""What every page needs: the open-now status, page metadata and rendering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from webapp.context import ctx
from webapp.fastpath import page_validator
from webapp.hours import Override, Schedule, Status, status_at
from webapp.pagecache import TRIGGER_MARK, Built, refresh_trigger
from webapp.security import shared_render

Build = Callable[[str | None], Awaitable[Built]]


async def schedule_now(
    request: Request, back: timedelta = timedelta(days=1)
) -> tuple[datetime, Schedule]:
    """The current instant and the schedule with the dated closures from `back` ago on."""
    app = ctx(request)
    now = app.clock()
    local_today = now.astimezone(app.clinic.schedule.tz).date()
    return now, await app.closure_cache.schedule(app.clinic.schedule, local_today, back)


def cache_until(status: Status) -> datetime | None:
    """Until when a page showing this status may be reused: until its banner's text changes
    (at most a minute while "Closes in N min" counts down). The refresh delay, which counts
    down within that time, is spliced into each response by the page cache."""
    return status.next_refresh


def is_htmx(request: Request) -> bool:
    """True for a request htmx sent (its answer may be a fragment)."""
    return request.headers.get("hx-request") == "true"


def client_key(request: Request) -> str:
    """The client's address (uvicorn rewrites it from a trusted proxy's forwarded header)."""
    return request.client.host if request.client else "unknown"


def banner_context(now: datetime, status: Status, was: str | None = None) -> dict[str, Any]:
    """Template values for _open_status.html."""
    # Poll every minute (and so recover from a failed request); when the text changes
    # sooner, also refresh at that exact instant. A shared page gets a placeholder, which
    # the page cache fills per response.
    shared = shared_render.get()
    trigger = TRIGGER_MARK if shared else refresh_trigger(now, status.next_refresh)
    return {
        "status": status,
        "status_trigger": trigger,
        "announce": was is not None and was != status.state,
    }


def canonical_url(request: Request, path: str | None = None) -> str:
    """The absolute URL search engines should index for this page."""
    base = ctx(request).settings.base_url or str(request.base_url).rstrip("/")
    return base + (request.url.path if path is None else path)


async def _page_values(
    request: Request, context: Mapping[str, Any] | None
) -> tuple[dict[str, Any], datetime | None]:
    """Everything base.html needs, and until when the banner's text holds."""
    app = ctx(request)
    now, schedule = await schedule_now(request)
    status = status_at(now, schedule)
    values: dict[str, Any] = {
        "clinic": app.clinic,
        "canonical": canonical_url(request),
        "today": now.astimezone(schedule.tz).date(),
        "robots": "index, follow",
        **banner_context(now, status),
        **(context or {}),
    }
    return values, cache_until(status)


def template_response(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A fragment or page rendered with the given values (and the staff session, if any)."""
    values = {"session": request.scope.get("staff_session"), **context}
    return ctx(request).templates.TemplateResponse(
        request, template, values, status_code=status_code, headers=headers
    )


async def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render a full page with the banner, the clinic's facts and the page's metadata."""
    values, _ = await _page_values(request, context)
    return template_response(request, template, values, status_code=status_code, headers=headers)


async def render_shared(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> Built:
    """A full page for the page cache, with how long its banner holds."""
    values, until = await _page_values(request, context)
    return Built(template_response(request, template, values, headers=headers), until)


def upcoming(schedule: Schedule, today: date, days: int = 120) -> list[Override]:
    """Closures from today on within `days`, for the clinic page and the JSON-LD."""
    horizon = today + timedelta(days=days)
    return sorted((o for o in schedule.overrides if today <= o.day <= horizon), key=lambda o: o.day)


async def cached_page(
    request: Request, key: Hashable, build: Build, *, form: bool = False
) -> Response:
    """Serve a public page from the page cache, rendering it when its content changed.

    `form=True`: the page carries the consultation form; `build` gets the placeholder to
    pass as the form's token, and every response gets a fresh token in its place.
    """
    app = ctx(request)
    now = app.clock()
    validator = await page_validator(app, now)
    origin = app.settings.base_url or f"{request.url.scheme}://{request.url.netloc}"

    def token() -> str:
        return app.form_tokens.issue(app.clock())

    return await app.page_cache.page(
        request, (origin, key), now, validator, build, token if form else None
    )
