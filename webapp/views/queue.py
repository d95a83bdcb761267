"""Working the queue from the browser: assign, call-back dates, contact attempts, status
changes for many requests at once, and the state an open dashboard polls."""

from __future__ import annotations

import functools
from datetime import date
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from webapp import handling, queue
from webapp.context import ctx
from webapp.followup import STATUSES, RequestNotFound, StillSuspected
from webapp.handling import AssigneeUnavailable, FollowUpOutOfRange, RequestFinished
from webapp.queue import Filter
from webapp.views.common import is_htmx, template_response
from webapp.views.forms import read_form
from webapp.views.staff import _after_change, _request_id
from webapp.views.staff_auth import Handler, require_staff, staff_form, staff_of
from webapp.views.worklist import bulk_message, bulk_params, list_context, today_of

FINISHED_MESSAGE = "This request is closed: reopen it (Mark contacted) to plan more contact."
SUSPECTED_MESSAGE = "This request is marked as suspected spam: move it to the queue first."


@require_staff
async def queue_state(request: Request) -> Response:
    """What an open dashboard polls (with X-Staff-Poll, so it is not activity): the counts
    for its title and badge, and how many requests arrived after the newest it shows."""
    app = ctx(request)
    raw = request.query_params.get("since", "0")
    since = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0
    today = await today_of(request)
    counts = await queue.counts(app.db, today, staff_of(request).id)
    return JSONResponse(
        {
            "new": counts["new"],
            "action": counts[queue.ACTION],
            "latest": await queue.latest_id(app.db),
            "arrived": await queue.arrived_since(app.db, since),
        },
        headers={"Cache-Control": "no-store"},
    )


async def _refused(request: Request, consultation_id: int, message: str) -> Response:
    return await _after_change(request, consultation_id, 409, handling_error=message)


@require_staff
async def assign(request: Request) -> Response:
    """Give a request to oneself ("me"), a colleague (their id), or no one ("none")."""
    consultation_id = _request_id(request)
    app = ctx(request)
    staff = staff_of(request)
    raw = (await staff_form(request)).get("to", "")
    to: int | None
    if raw == "me":
        to = staff.id
    elif raw == "none":
        to = None
    elif raw.isascii() and raw.isdigit() and len(raw) < 12:
        to = int(raw)
    else:
        return await _after_change(
            request, consultation_id, 422, handling_error="Choose someone to assign it to."
        )
    try:
        await handling.assign(app.db, consultation_id, to, staff, app.clock())
    except RequestNotFound:
        raise HTTPException(404) from None
    except StillSuspected:
        return await _refused(request, consultation_id, SUSPECTED_MESSAGE)
    except AssigneeUnavailable:
        return await _refused(
            request, consultation_id, "That account is not active: choose someone else."
        )
    return await _after_change(request, consultation_id)


@require_staff
async def follow_up(request: Request) -> Response:
    """Set the call-back date, or clear it."""
    consultation_id = _request_id(request)
    app = ctx(request)
    form = await staff_form(request)
    today = await today_of(request)
    day: date | None = None
    if form.get("action") != "clear":
        try:
            day = date.fromisoformat(form.get("on", "").strip())
        except ValueError:
            return await _after_change(
                request, consultation_id, 422,
                handling_error="Enter the date to call back, like 2026-12-03.",
            )  # fmt: skip
    try:
        await handling.set_follow_up(
            app.db, consultation_id, day, today, staff_of(request), app.clock()
        )
    except RequestNotFound:
        raise HTTPException(404) from None
    except StillSuspected:
        return await _refused(request, consultation_id, SUSPECTED_MESSAGE)
    except RequestFinished:
        return await _refused(request, consultation_id, FINISHED_MESSAGE)
    except FollowUpOutOfRange:
        return await _after_change(
            request, consultation_id, 422,
            handling_error="Choose a date from today to a year ahead.",
        )  # fmt: skip
    return await _after_change(request, consultation_id)


@require_staff
async def log_attempt(request: Request) -> Response:
    """One click: "No answer", "Left voicemail" or "Spoke"."""
    consultation_id = _request_id(request)
    app = ctx(request)
    outcome = (await staff_form(request)).get("outcome", "")
    if outcome not in handling.OUTCOMES:
        return await _after_change(
            request, consultation_id, 422, handling_error="Choose one of the outcomes offered."
        )
    try:
        await handling.log_attempt(app.db, consultation_id, outcome, staff_of(request), app.clock())
    except RequestNotFound:
        raise HTTPException(404) from None
    except StillSuspected:
        return await _refused(request, consultation_id, SUSPECTED_MESSAGE)
    except RequestFinished:
        return await _refused(request, consultation_id, FINISHED_MESSAGE)
    return await _after_change(request, consultation_id)


BULK_FIELDS = {"csrf", "ids", "new_status", "status", "q", "sort", "page"}


def _reads_selection(handler: Handler) -> Handler:
    """Read the bulk form (its repeated `ids`) before the staff guard reads it for the CSRF
    token: the form is read once per request, with the rules given first."""

    @functools.wraps(handler)
    async def read_first(request: Request) -> Response:
        await read_form(
            request, ctx(request).settings.base_url, allowed=BULK_FIELDS, lists={"ids"},
            max_fields=handling.MAX_BULK + len(BULK_FIELDS),
        )  # fmt: skip
        return await handler(request)

    return read_first


@_reads_selection
@require_staff
async def bulk_status(request: Request) -> Response:
    """A status for every selected row (each checked and audited on its own); the list
    again, with what changed and what could not."""
    app = ctx(request)
    form = await staff_form(request)
    new = form.get("new_status", "")
    if new not in STATUSES:
        raise HTTPException(422, "Choose one of the statuses offered.")
    ids = [int(i) for i in form.getlist("ids") if i.isascii() and i.isdigit() and len(i) < 12]
    result = await handling.change_many(app.db, ids, new, staff_of(request), app.clock())
    filter_ = Filter.parse(form)
    if not is_htmx(request):
        params = {**filter_.query(), **bulk_params(result, new, bool(ids))}
        url = request.app.url_path_for("staff_dashboard")
        return RedirectResponse(f"{url}?{urlencode(params)}", status_code=303)
    context = await list_context(request, filter_)
    context.update(bulk_message(result.changed, result.refused, new, bool(ids)))
    return template_response(request, "staff/_request_list.html", context)


routes = [
    Route("/staff/queue-state", queue_state, name="staff_queue_state"),
    Route("/staff/requests/bulk", bulk_status, methods=["POST"], name="staff_bulk_status"),
    Route("/staff/requests/{consultation_id}/assign", assign, methods=["POST"],
          name="staff_assign"),
    Route("/staff/requests/{consultation_id}/follow-up", follow_up, methods=["POST"],
          name="staff_follow_up"),
    Route("/staff/requests/{consultation_id}/attempts", log_attempt, methods=["POST"],
          name="staff_attempt"),
]  # fmt: skip
