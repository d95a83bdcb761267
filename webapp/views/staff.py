"""The staff dashboard: find, follow up and close requests; keep the hours current."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import audit, followup, handling, queue, spreadsheet
from webapp.context import ctx
from webapp.db import parse_utc
from webapp.followup import NEXT, STATUSES, RequestNotFound, StillSuspected, TransitionRefused
from webapp.queue import Filter, Row
from webapp.static import accepts_gzip
from webapp.views import person
from webapp.views.common import is_htmx, render, schedule_now, template_response
from webapp.views.staff_auth import require_staff, signed_in, staff_form, staff_of
from webapp.views.worklist import decorate, detail_extras, list_context, mail_health


@require_staff
async def dashboard(request: Request) -> Response:
    """The work queue: "Needs action" first, other views, search and sorts; htmx swaps just
    the list (and the page's own script refreshes it when requests arrive)."""
    app = ctx(request)
    partial = is_htmx(request) and request.headers.get("hx-request-type") != "full"
    # The same person reloading or paging back sees the same page until anything is
    # written (by any process) or the minute, and so "5 min ago", turns.
    key = (signed_in(request).id_hash, request.url.query, partial)
    minute = app.clock().replace(second=0, microsecond=0)
    validator = (await app.db.data_version(), minute)

    async def build() -> Response:
        context = await list_context(request)
        headers = {"Vary": "HX-Request"}
        if partial:
            return template_response(request, "staff/_request_list.html", context, headers=headers)
        return await render(
            request, "staff/dashboard.html", {**context, **await _page_extras(request, context)},
            headers=headers,
        )  # fmt: skip

    gzip_ok = accepts_gzip(request.headers)
    return await app.dashboard_memo.get_or_build(key, validator, build, gzip_ok=gzip_ok)


async def _page_extras(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    """The dashboard page around its list: counts for the title and badge, the live poll."""
    app = ctx(request)
    return {
        "new_count": context["counts"]["new"],
        "spam_count": context["counts"][queue.SPAM],
        "latest": await queue.latest_id(app.db),
        "poll_ms": round(app.settings.staff_poll_seconds * 1000),
        "mail": await mail_health(request),
        "robots": "noindex",
    }


@require_staff
async def new_count(request: Request) -> Response:
    """The live "N new" indicator."""
    count = await followup.count_new(ctx(request).db)
    return template_response(request, "staff/_new_count.html", {"new_count": count})


async def _detail_context(request: Request, found: Row, **extra: Any) -> dict[str, Any]:
    """The request page's values around one request already read (with its notes)."""
    [found] = await decorate(request, [found])
    _, schedule = await schedule_now(request)
    for note in found["notes"]:
        note["created_local"] = parse_utc(note["created_at"]).astimezone(schedule.tz)
    history = await audit.for_request(ctx(request).db, found["id"])
    for entry in history:
        entry["at_local"] = parse_utc(entry["at"]).astimezone(schedule.tz)
    return {
        "item": found,
        "next_statuses": [(s, STATUSES[s]) for s in NEXT[found["status"]]],
        "history": history,
        "note_error": "",
        "status_error": "",
        "note_text": "",
        "robots": "noindex",
        **await detail_extras(request, found),
        **extra,
    }


def _request_id(request: Request) -> int:
    raw = request.path_params["consultation_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise HTTPException(404)
    return int(raw)


async def _read_request(request: Request, consultation_id: int) -> Row:
    found = await followup.get(ctx(request).db, consultation_id)
    if found is None:
        raise HTTPException(404)
    return found


@require_staff
async def request_page(request: Request) -> Response:
    """One request: contact details, message, status, notes and history."""
    consultation_id = _request_id(request)
    app = ctx(request)
    found = await _read_request(request, consultation_id)
    await handling.record_view(app.db, consultation_id, staff_of(request), app.clock())
    context = await _detail_context(request, found)
    context.update(await person.person_context(request, found))  # admins: copy, erase
    return await render(request, "staff/request.html", context)


async def _after_change(
    request: Request, consultation_id: int, status: int = 200, **errors: str
) -> Response:
    if not is_htmx(request) and status == 200:
        url = request.app.url_path_for("staff_request", consultation_id=str(consultation_id))
        return RedirectResponse(url, status_code=303)
    found = await _read_request(request, consultation_id)
    context = await _detail_context(request, found, **errors)
    if is_htmx(request):
        return template_response(request, "staff/_request_detail.html", context, status_code=status)
    return await render(request, "staff/request.html", context, status_code=status)


@require_staff
async def change_status(request: Request) -> Response:
    """Move a request along: new -> contacted -> scheduled, or not a fit, or closed."""
    consultation_id = _request_id(request)
    app = ctx(request)
    new = (await staff_form(request)).get("status", "")
    if new not in STATUSES:
        return await _after_change(
            request, consultation_id, 422, status_error="Choose one of the statuses offered."
        )
    try:
        await followup.change_status(app.db, consultation_id, new, staff_of(request), app.clock())
    except RequestNotFound:
        raise HTTPException(404) from None
    except (TransitionRefused, StillSuspected) as refused:
        return await _after_change(request, consultation_id, 409, status_error=str(refused))
    return await _after_change(request, consultation_id)


@require_staff
async def move_to_queue(request: Request) -> Response:
    """Take a request out of suspected spam (one audited action), from its page or the list.

    From the list (`from=list` with the list's filter) htmx gets the list again and a browser
    without JavaScript is sent back to it; otherwise to (or the fragment of) the request page.
    """
    consultation_id = _request_id(request)
    app = ctx(request)
    form = await staff_form(request)
    try:
        await followup.move_to_queue(app.db, consultation_id, staff_of(request), app.clock())
    except RequestNotFound:
        raise HTTPException(404) from None
    if form.get("from") != "list":
        return await _after_change(request, consultation_id)
    filter_ = Filter.parse(form)
    if not is_htmx(request):
        url = request.app.url_path_for("staff_dashboard")
        query = urlencode(filter_.query())
        return RedirectResponse(url + (f"?{query}" if query else ""), status_code=303)
    context = await list_context(request, filter_)
    return template_response(request, "staff/_request_list.html", context)


@require_staff
async def add_note(request: Request) -> Response:
    """Append a note with its author and time."""
    consultation_id = _request_id(request)
    app = ctx(request)
    body = (await staff_form(request)).get("note", "").replace("\r\n", "\n").strip()
    problem = followup.note_problem(body)
    if problem:
        return await _after_change(
            request,
            consultation_id,
            422,
            note_error=problem,
            note_text=body[: followup.MAX_NOTE * 2],
        )
    try:
        await followup.add_note(app.db, consultation_id, body, staff_of(request), app.clock())
    except RequestNotFound:
        raise HTTPException(404) from None
    return await _after_change(request, consultation_id)


@require_staff
async def export_csv(request: Request) -> Response:
    """The current view and search as a CSV file for a spreadsheet (every page of it)."""
    app = ctx(request)
    filter_ = Filter.parse(request.query_params)
    tz = app.clinic.schedule.tz
    now = app.clock()
    rows = await queue.export_rows(app.db, filter_, now.astimezone(tz).date(), staff_of(request).id)
    await queue.record_export(app.db, staff_of(request), filter_, len(rows), now)
    return Response(
        spreadsheet.csv_text(rows, tz),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{spreadsheet.file_name(now, tz)}"'},
    )


routes = [
    Route("/staff", dashboard, name="staff_dashboard"),
    Route("/staff/new-count", new_count, name="staff_new_count"),
    Route("/staff/requests.csv", export_csv, name="staff_export"),
    Route("/staff/requests/{consultation_id}", request_page, name="staff_request"),
    Route("/staff/requests/{consultation_id}/status", change_status, methods=["POST"],
          name="staff_status"),
    Route("/staff/requests/{consultation_id}/notes", add_note, methods=["POST"],
          name="staff_note"),
    Route("/staff/requests/{consultation_id}/restore", move_to_queue, methods=["POST"],
          name="staff_restore"),
]  # fmt: skip
