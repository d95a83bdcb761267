"""/staff/hours: dated closures and special hours, a range of days in one entry, "Saved",
removal with a confirmation step and an undo. The public site follows each change at once."""

from __future__ import annotations

from datetime import date
from typing import Any

from itsdangerous import BadSignature
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import closures
from webapp.closures import Stretch
from webapp.context import ctx
from webapp.hours import Override, parse_time
from webapp.views.common import render, schedule_now, upcoming
from webapp.views.consultation import done_serializer
from webapp.views.staff_auth import require_staff, staff_form, staff_of

UNDO_SALT = "closure-undo"


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _day(text: str) -> date | None:
    try:
        return closures.parse_day(text)
    except ValueError:
        return None


def _undo_token(request: Request, removed: list[Override]) -> str:
    """What was removed, signed: the undo button re-adds exactly that, nothing typed in a URL."""
    serializer = done_serializer(ctx(request).settings.secret_keys, salt=UNDO_SALT)
    return str(serializer.dumps([
        [o.day.isoformat(), o.reason, f"{o.opens:%H:%M}" if o.opens else None,
         f"{o.closes:%H:%M}" if o.closes else None]
        for o in removed
    ]))  # fmt: skip


def _undone(request: Request, token: str) -> list[Override]:
    serializer = done_serializer(ctx(request).settings.secret_keys, salt=UNDO_SALT)
    try:
        items = serializer.loads(token)
        return [
            Override(date.fromisoformat(day), str(reason),
                     parse_time(opens) if opens else None, parse_time(closes) if closes else None)
            for day, reason, opens, closes in items[: closures.MAX_DAYS]
        ]  # fmt: skip
    except (BadSignature, TypeError, ValueError):
        return []


def _stretch_of(found: list[Stretch], first: date | None) -> Stretch | None:
    return next((s for s in found if s.first == first), None) if first else None


async def _context(request: Request, **extra: Any) -> dict[str, Any]:
    now, schedule = await schedule_now(request)
    today = now.astimezone(schedule.tz).date()
    found = closures.stretches(upcoming(schedule, today, days=3650))
    params = request.query_params
    removed = _undone(request, params.get("removed", ""))
    return {
        "stretches": found,
        "today": today,
        "saved": _stretch_of(found, _day(params.get("saved", ""))),
        "removed": closures.stretches(removed),
        "undo_token": params.get("removed", "") if removed else "",
        "hours_error": "",
        "hours_values": {},
        "robots": "noindex",
        **extra,
    }


@require_staff
async def hours_page(request: Request) -> Response:
    """Dated closures and special hours, with a form to add one (or a range of days)."""
    return await render(request, "staff/hours.html", await _context(request))


@require_staff
async def add_closure(request: Request) -> Response:
    """Close for a day or several, or set special hours; one audited change."""
    app = ctx(request)
    form = await staff_form(request)
    special = form.get("kind") == "special"
    staff = staff_of(request)
    now = app.clock()
    try:
        entries = closures.make_range(
            form.get("day", ""),
            form.get("to", "").strip() or None,
            form.get("reason", ""),
            form.get("opens") if special else None,
            form.get("closes") if special else None,
        )
        today = now.astimezone(app.clinic.schedule.tz).date()
        await closures.put_range(app.db, entries, now, today, staff.email, staff.id)
    except ValueError as exc:
        context = await _context(request, hours_error=_sentence(str(exc)), hours_values=dict(form))
        return await render(request, "staff/hours.html", context, status_code=422)
    url = request.app.url_path_for("staff_hours")
    return RedirectResponse(f"{url}?saved={entries[0].day.isoformat()}#saved", status_code=303)


def _range(request: Request, last: str | None) -> tuple[date, date]:
    first = _day(request.path_params["day"])
    end = _day(last) if last else first
    if first is None or end is None or end < first or (end - first).days >= closures.MAX_DAYS:
        raise HTTPException(404)
    return first, end


@require_staff
async def confirm_removal(request: Request) -> Response:
    """The confirmation step before a removal: what will go, and the two choices."""
    first, last = _range(request, request.query_params.get("to"))
    _, schedule = await schedule_now(request)
    entries = [o for o in schedule.overrides if first <= o.day <= last]
    context = {"stretch": next(iter(closures.stretches(entries)), None), "robots": "noindex"}
    return await render(request, "staff/hours_remove.html", context)


@require_staff
async def remove_closure(request: Request) -> Response:
    """Delete a dated entry or a range of them (one audited change); the page then offers
    to undo it."""
    app = ctx(request)
    form = await staff_form(request)
    first, last = _range(request, form.get("to"))
    staff = staff_of(request)
    removed = await closures.remove_range(app.db, first, last, app.clock(), staff.email, staff.id)
    url = request.app.url_path_for("staff_hours")
    if not removed:
        return RedirectResponse(url, status_code=303)
    return RedirectResponse(f"{url}?removed={_undo_token(request, removed)}#saved", 303)


@require_staff
async def undo_removal(request: Request) -> Response:
    """Put back what a removal took (the signed list it handed the page)."""
    app = ctx(request)
    entries = _undone(request, (await staff_form(request)).get("undo", ""))
    if not entries:
        raise HTTPException(400, "That undo is no longer possible.")
    staff = staff_of(request)
    now = app.clock()
    try:
        today = now.astimezone(app.clinic.schedule.tz).date()
        await closures.put_range(app.db, entries, now, today, staff.email, staff.id)
    except ValueError as exc:
        context = await _context(request, hours_error=_sentence(str(exc)))
        return await render(request, "staff/hours.html", context, status_code=422)
    url = request.app.url_path_for("staff_hours")
    return RedirectResponse(f"{url}?saved={entries[0].day.isoformat()}#saved", status_code=303)


routes = [
    Route("/staff/hours", hours_page, name="staff_hours"),
    Route("/staff/hours", add_closure, methods=["POST"], name="staff_hours_add"),
    Route("/staff/hours/undo", undo_removal, methods=["POST"], name="staff_hours_undo"),
    Route("/staff/hours/{day}/remove", confirm_removal, name="staff_hours_confirm"),
    Route("/staff/hours/{day}/delete", remove_closure, methods=["POST"],
          name="staff_hours_remove"),
]  # fmt: skip
