"""The staff dashboard: find, follow up and close requests; keep the hours current."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import audit, closures, followup
from webapp.consultations import BEST_TIMES, CONTACT_METHODS, format_phone
from webapp.db import parse_utc
from webapp.followup import NEXT, STATUSES, Filter
from webapp.hours import open_time_between, regular_day_length
from webapp.views.common import is_htmx, render, schedule_now, upcoming
from webapp.views.staff_auth import require_staff, staff_form

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


async def _decorate(request: Request, rows: list[dict]) -> list[dict]:
    """Add age, overdue flag and display labels to request rows."""
    # Closures as far back as the overdue check looks, so closed days never count as open.
    now, schedule = await schedule_now(request, back=OVERDUE_SCAN)
    business_day = regular_day_length(schedule)
    for row in rows:
        created = parse_utc(row["created_at"])
        overdue = False
        if row["status"] == "new":
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
        )
    return rows


async def _list_context(request: Request) -> dict[str, Any]:
    filter_ = Filter.parse(dict(request.query_params))
    db = request.app.state.db
    rows, total = await followup.search(db, filter_)
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
        "counts": await followup.counts(db),
        "statuses": STATUSES,
    }


@require_staff
async def dashboard(request: Request) -> Response:
    """Requests newest first, filtered and searched; htmx swaps just the list."""
    state = request.app.state
    partial = is_htmx(request) and request.headers.get("hx-request-type") != "full"
    # The same person reloading or paging back sees the same page until anything is
    # written (by any process) or the minute, and so "5 min ago", turns.
    key = (request.scope["staff_session"].id_hash, request.url.query, partial)
    minute = state.clock().replace(second=0, microsecond=0)
    validator = (await state.db.data_version(), minute)

    async def build() -> Response:
        context = await _list_context(request)
        headers = {"Vary": "HX-Request"}
        if partial:
            return state.templates.TemplateResponse(
                request, "staff/_request_list.html", context, headers=headers
            )
        context["new_count"] = context["counts"]["new"]
        return await render(request, "staff/dashboard.html",
                            {**context, "robots": "noindex"}, headers=headers)  # fmt: skip

    return await state.dashboard_memo.get_or_build(key, validator, build)


@require_staff
async def new_count(request: Request) -> Response:
    """The live "N new" indicator."""
    count = await followup.count_new(request.app.state.db)
    return request.app.state.templates.TemplateResponse(
        request, "staff/_new_count.html", {"new_count": count}
    )


async def _detail_context(request: Request, consultation_id: int, **extra: Any) -> dict[str, Any]:
    found = await followup.get(request.app.state.db, consultation_id)
    if found is None:
        raise HTTPException(404)
    [found] = await _decorate(request, [found])
    _, schedule = await schedule_now(request)
    for note in found["notes"]:
        note["created_local"] = parse_utc(note["created_at"]).astimezone(schedule.tz)
    history = await audit.for_request(request.app.state.db, consultation_id)
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


@require_staff
async def request_page(request: Request) -> Response:
    """One request: contact details, message, status, notes and history."""
    consultation_id = _request_id(request)
    state = request.app.state
    if await followup.get(state.db, consultation_id) is None:
        raise HTTPException(404)
    await followup.record_view(state.db, consultation_id, request.state.staff, state.clock())
    context = await _detail_context(request, consultation_id)
    return await render(request, "staff/request.html", context)


async def _after_change(request: Request, consultation_id: int, status: int = 200,
                        **errors: str) -> Response:  # fmt: skip
    if not is_htmx(request) and status == 200:
        url = request.app.url_path_for("staff_request", consultation_id=str(consultation_id))
        return RedirectResponse(url, status_code=303)
    context = await _detail_context(request, consultation_id, **errors)
    if is_htmx(request):
        return request.app.state.templates.TemplateResponse(
            request, "staff/_request_detail.html", context, status_code=status
        )
    return await render(request, "staff/request.html", context, status_code=status)


@require_staff
async def change_status(request: Request) -> Response:
    """Move a request along: new -> contacted -> scheduled, or not a fit, or closed."""
    consultation_id = _request_id(request)
    state = request.app.state
    new = (await staff_form(request)).get("status", "")
    if new not in STATUSES:
        return await _after_change(request, consultation_id, 422,
                                   status_error="Choose one of the statuses offered.")  # fmt: skip
    problem = await followup.change_status(
        state.db, consultation_id, new, request.state.staff, state.clock()
    )
    if problem == "This request no longer exists.":
        raise HTTPException(404)
    if problem:
        return await _after_change(request, consultation_id, 409, status_error=problem)
    return await _after_change(request, consultation_id)


@require_staff
async def add_note(request: Request) -> Response:
    """Append a note with its author and time."""
    consultation_id = _request_id(request)
    state = request.app.state
    body = (await staff_form(request)).get("note", "").replace("\r\n", "\n").strip()
    problem = followup.note_problem(body)
    if await followup.get(state.db, consultation_id) is None:
        raise HTTPException(404)
    if problem:
        return await _after_change(request, consultation_id, 422, note_error=problem,
                                   note_text=body[:followup.MAX_NOTE * 2])  # fmt: skip
    await followup.add_note(state.db, consultation_id, body, request.state.staff, state.clock())
    return await _after_change(request, consultation_id)


@require_staff
async def export_csv(request: Request) -> Response:
    """The current filter as a CSV file that is safe to open in a spreadsheet."""
    state = request.app.state
    filter_ = Filter.parse(dict(request.query_params))
    rows = await followup.export_rows(state.db, filter_)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Reference", "Received (UTC)", "Status", "Name", "Email", "Phone",
                     "Preferred contact", "Best time", "Message"])  # fmt: skip
    for row in rows:
        writer.writerow([followup.csv_safe(value) for value in (
            row["reference"], row["created_at"], STATUSES[row["status"]], row["full_name"],
            row["email"], format_phone(row["phone"]) if row["phone"] else "",
            CONTACT_METHODS[row["contact_method"]], BEST_TIMES[row["best_time"]], row["message"],
        )])  # fmt: skip
    staff = request.state.staff
    described = ", ".join(f"{k}={v}" for k, v in filter_.query(page="").items()) or "all"
    await audit.log(state.db, state.clock(), staff.email, "export_csv", staff_id=staff.id,
                    detail=f"{len(rows)} rows ({described})")  # fmt: skip
    stamp = state.clock().strftime("%Y%m%d-%H%M")
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


@require_staff
async def add_closure(request: Request) -> Response:
    """Close for a day or set special hours; the public site follows at once."""
    state = request.app.state
    form = await staff_form(request)
    special = form.get("kind") == "special"
    try:
        entry = closures.make_override(
            form.get("day", ""),
            form.get("reason", ""),
            form.get("opens") if special else None,
            form.get("closes") if special else None,
        )
        if entry.day < state.clock().astimezone(state.clinic.schedule.tz).date():
            raise ValueError("that date has passed; check the year")
    except ValueError as exc:
        message = str(exc)
        message = message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
        context = await _hours_context(request, hours_error=message, hours_values=form)
        return await render(request, "staff/hours.html", context, status_code=422)
    now = state.clock()
    await closures.put(state.db, entry, now)
    staff = request.state.staff
    hours = f"{entry.opens:%H:%M}-{entry.closes:%H:%M}" if entry.opens else "closed"
    await audit.log(state.db, now, staff.email, "closure_add", staff_id=staff.id,
                    detail=f"{entry.day.isoformat()} {hours} ({entry.reason})")  # fmt: skip
    return RedirectResponse(request.app.url_path_for("staff_hours"), status_code=303)


@require_staff
async def remove_closure(request: Request) -> Response:
    """Delete a dated entry."""
    state = request.app.state
    try:
        day = closures.parse_day(request.path_params["day"])
    except ValueError:
        raise HTTPException(404) from None
    if await closures.remove(state.db, day):
        staff = request.state.staff
        await audit.log(state.db, state.clock(), staff.email, "closure_remove",
                        staff_id=staff.id, detail=day.isoformat())  # fmt: skip
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
    Route("/staff/hours", hours_page, name="staff_hours"),
    Route("/staff/hours", add_closure, methods=["POST"], name="staff_hours_add"),
    Route("/staff/hours/{day}/delete", remove_closure, methods=["POST"],
          name="staff_hours_remove"),
]  # fmt: skip
