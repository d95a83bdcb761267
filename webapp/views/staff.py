"""The staff dashboard: find, follow up and close requests; keep the hours current."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import audit, closures, followup
from webapp.consultations import BEST_TIMES, CONTACT_METHODS, SPAM_KINDS, format_phone
from webapp.context import ctx
from webapp.db import parse_utc
from webapp.followup import (
    NEXT,
    SPAM,
    SPAM_LABEL,
    STATUSES,
    Filter,
    RequestNotFound,
    Row,
    StillSuspected,
    TransitionRefused,
)
from webapp.hours import format_reply_by, open_time_between, regular_day_length
from webapp.static import accepts_gzip
from webapp.views.common import is_htmx, render, schedule_now, template_response, upcoming
from webapp.views.staff_auth import require_staff, signed_in, staff_form, staff_of

OVERDUE_SCAN = timedelta(days=31)


def age_text(created: datetime, now: datetime) -> str:
    """How long ago, in the largest sensible unit: "5 min ago", "3 h ago", "2 days ago"."""
    seconds = max(0, int((now - created).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''} ago"


async def _decorate(request: Request, rows: list[Row]) -> list[Row]:
    """Add age, overdue flag and display labels to request rows."""
    # Closures as far back as the overdue check looks, so closed days never count as open.
    now, schedule = await schedule_now(request, back=OVERDUE_SCAN)
    business_day = regular_day_length(schedule)
    for row in rows:
        created = parse_utc(row["created_at"])
        overdue = False
        if row["status"] == "new" and row["suspected_spam"] is None:
            # Past one business day of open time without contact.
            overdue = now - created > OVERDUE_SCAN or (
                open_time_between(created, now, schedule) >= business_day
            )
        row.update(
            age=age_text(created, now),
            overdue=overdue,
            created_local=created.astimezone(schedule.tz),
            status_label=STATUSES[row["status"]],
            method_label=CONTACT_METHODS[row["contact_method"]],
            time_label=BEST_TIMES[row["best_time"]],
            phone_display=format_phone(row["phone"]) if row["phone"] else "",
            spam_label=SPAM_KINDS.get(row["suspected_spam"] or "", ""),
            # What the visitor's confirmation promised, with its date ("by Thursday, ...").
            promised=format_reply_by(parse_utc(row["reply_by"]), schedule.tz)
            if row["reply_by"]
            else "",
        )
    return rows


async def _list_context(request: Request, filter_: Filter | None = None) -> dict[str, Any]:
    filter_ = filter_ or Filter.parse(request.query_params)
    db = ctx(request).db
    counts = await followup.counts(db)
    rows, total = await followup.search(db, filter_, counts)
    capped = total > followup.COUNT_CAP
    pages = max(1, -(-total // followup.PER_PAGE))
    if capped:  # the exact number is unknown: offer the next page while pages are full
        pages = filter_.page + (1 if len(rows) == followup.PER_PAGE else 0)
    return {
        "filter": filter_,
        "rows": await _decorate(request, rows),
        "total": total,
        "capped": capped,
        "pages": pages,
        "counts": counts,
        "statuses": STATUSES,
        "spam": SPAM,
        "spam_label": SPAM_LABEL,
        "all_count": sum(counts[s] for s in STATUSES),
    }


@require_staff
async def dashboard(request: Request) -> Response:
    """Requests newest first, filtered and searched; htmx swaps just the list."""
    app = ctx(request)
    partial = is_htmx(request) and request.headers.get("hx-request-type") != "full"
    # The same person reloading or paging back sees the same page until anything is
    # written (by any process) or the minute, and so "5 min ago", turns.
    key = (signed_in(request).id_hash, request.url.query, partial)
    minute = app.clock().replace(second=0, microsecond=0)
    validator = (await app.db.data_version(), minute)

    async def build() -> Response:
        context = await _list_context(request)
        headers = {"Vary": "HX-Request"}
        if partial:
            return template_response(request, "staff/_request_list.html", context, headers=headers)
        context["new_count"] = context["counts"]["new"]
        context["spam_count"] = context["counts"][SPAM]
        return await render(
            request, "staff/dashboard.html", {**context, "robots": "noindex"}, headers=headers
        )

    gzip_ok = accepts_gzip(request.headers)
    return await app.dashboard_memo.get_or_build(key, validator, build, gzip_ok=gzip_ok)


@require_staff
async def new_count(request: Request) -> Response:
    """The live "N new" indicator."""
    count = await followup.count_new(ctx(request).db)
    return template_response(request, "staff/_new_count.html", {"new_count": count})


async def _detail_context(request: Request, found: Row, **extra: Any) -> dict[str, Any]:
    """The request page's values around one request already read (with its notes)."""
    [found] = await _decorate(request, [found])
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
    await followup.record_view(app.db, consultation_id, staff_of(request), app.clock())
    context = await _detail_context(request, found)
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
    context = await _list_context(request, filter_)
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


CSV_HEADER = ["Reference", "Received (UTC)", "Status", "Name", "Email", "Phone",
              "Preferred contact", "Best time", "Message"]  # fmt: skip


@require_staff
async def export_csv(request: Request) -> Response:
    """The current filter as a CSV file that is safe to open in a spreadsheet."""
    app = ctx(request)
    filter_ = Filter.parse(request.query_params)
    rows = await followup.export_rows(app.db, filter_)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([followup.csv_safe(value) for value in (
            row["reference"], row["created_at"], STATUSES[row["status"]], row["full_name"],
            row["email"], format_phone(row["phone"]) if row["phone"] else "",
            CONTACT_METHODS[row["contact_method"]], BEST_TIMES[row["best_time"]], row["message"],
        )])  # fmt: skip
    now = app.clock()
    await followup.record_export(app.db, staff_of(request), filter_, len(rows), now)
    stamp = now.strftime("%Y%m%d-%H%M")
    return Response(
        "\ufeff" + buffer.getvalue(),  # BOM: spreadsheets then read the file as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="requests-{stamp}.csv"'},
    )


async def _hours_context(request: Request, **extra: Any) -> dict[str, Any]:
    now, schedule = await schedule_now(request)
    today = now.astimezone(schedule.tz).date()
    return {
        "closures": upcoming(schedule, today, days=3650),
        "today": today,
        "hours_error": "",
        "hours_values": {},
        "robots": "noindex",
        **extra,
    }


@require_staff
async def hours_page(request: Request) -> Response:
    """Dated closures and special hours, with a form to add one."""
    return await render(request, "staff/hours.html", await _hours_context(request))


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


@require_staff
async def add_closure(request: Request) -> Response:
    """Close for a day or set special hours; the public site follows at once."""
    app = ctx(request)
    form: Mapping[str, str] = await staff_form(request)
    special = form.get("kind") == "special"
    staff = staff_of(request)
    now = app.clock()
    try:
        entry = closures.make_override(
            form.get("day", ""),
            form.get("reason", ""),
            form.get("opens") if special else None,
            form.get("closes") if special else None,
        )
        today = now.astimezone(app.clinic.schedule.tz).date()
        await closures.put(app.db, entry, now, today, staff.email, staff.id)
    except ValueError as exc:
        context = await _hours_context(
            request, hours_error=_sentence(str(exc)), hours_values=dict(form)
        )
        return await render(request, "staff/hours.html", context, status_code=422)
    return RedirectResponse(request.app.url_path_for("staff_hours"), status_code=303)


@require_staff
async def remove_closure(request: Request) -> Response:
    """Delete a dated entry."""
    app = ctx(request)
    try:
        day = closures.parse_day(request.path_params["day"])
    except ValueError:
        raise HTTPException(404) from None
    staff = staff_of(request)
    await closures.remove(app.db, day, app.clock(), staff.email, staff.id)
    return RedirectResponse(request.app.url_path_for("staff_hours"), status_code=303)


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
    Route("/staff/hours", hours_page, name="staff_hours"),
    Route("/staff/hours", add_closure, methods=["POST"], name="staff_hours_add"),
    Route("/staff/hours/{day}/delete", remove_closure, methods=["POST"],
          name="staff_hours_remove"),
]  # fmt: skip
