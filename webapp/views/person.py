"""Admins only: a copy of a person's data (a subject access request) and its erasure, from the
request page. Other requests with the same email or phone are offered, never included unasked:
a family or an office may share a phone."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from webapp import person_copy, privacy
from webapp.consultations import format_phone
from webapp.context import ctx
from webapp.db import parse_utc
from webapp.followup import STATUSES, Row
from webapp.privacy import Held, Person
from webapp.views.common import render
from webapp.views.staff_auth import require_staff, signed_in, staff_form, staff_of

FORBIDDEN = "Only an admin can copy or erase a person's data."
ALSO = "also-"  # one checkbox per other request: also-<id>=on
MAX_SHOWN = 20  # references named on the page after an erasure


def _admin(request: Request) -> None:
    if not staff_of(request).is_admin:
        raise HTTPException(403, FORBIDDEN)


def _request_id(request: Request) -> int:
    raw = request.path_params["consultation_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise HTTPException(404)
    return int(raw)


async def _person(request: Request) -> Person:
    try:
        return await privacy.person(ctx(request).db, _request_id(request))
    except privacy.NotHeld:
        raise HTTPException(404) from None


def _also(names: Iterable[str]) -> list[int]:
    """The other requests ticked: ids from also-<id> names (anything else is not an id)."""
    ids = []
    for name in names:
        raw = name.removeprefix(ALSO)
        if name.startswith(ALSO) and raw.isascii() and raw.isdigit() and len(raw) <= 12:
            ids.append(int(raw))
    return ids


def _shown(held: Held, tz: Any) -> dict[str, Any]:
    """A held request as the pages list it."""
    return {
        "held": held,
        "received": parse_utc(held.created_at).astimezone(tz),
        "status": "Suspected spam" if held.suspected_spam else STATUSES[held.status],
        "phone": format_phone(held.phone) if held.phone else "",
        "box": f"{ALSO}{held.id}",
    }


async def person_context(request: Request, found: Row) -> dict[str, Any]:
    """For the request page: an admin's copy and erase actions, with the same-contact requests
    (nothing for other staff)."""
    if not signed_in(request).staff.is_admin:
        return {}
    try:
        found_person = await privacy.person(ctx(request).db, int(found["id"]))
    except privacy.NotHeld:
        return {}
    tz = ctx(request).clinic.schedule.tz
    return {"person_others": [_shown(other, tz) for other in found_person.others]}


@require_staff
async def copy(request: Request) -> Response:
    """Download everything held about the person: JSON or a readable web page (GET, so the
    browser saves it); the chosen same-contact requests included. Audited by reference."""
    _admin(request)
    app = ctx(request)
    found = await _person(request)
    wanted = request.query_params.get("format", "html")
    if wanted not in ("html", "json"):
        raise HTTPException(404)
    try:
        chosen = found.chosen(_also(request.query_params.keys()))
    except privacy.NotOffered:
        raise HTTPException(404) from None
    now = app.clock()
    document = await person_copy.copy(app.db, chosen, app.clinic.name, now)
    kind = "JSON" if wanted == "json" else "web page"
    staff = staff_of(request)
    await person_copy.record_copy(app.db, chosen, kind, now, staff.email, staff.id)
    name = f"{found.request.reference}-{now.strftime('%Y%m%d')}.{wanted}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if wanted == "json":
        body = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        return Response(body, media_type="application/json", headers=headers)
    page = person_copy.copy_as_html(document, app.settings.templates_dir, app.clinic.schedule.tz)
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)


async def _confirm_page(
    request: Request,
    found: Person,
    ticked: Iterable[int] = (),
    *,
    status: int = 200,
    error: str = "",
) -> Response:
    tz = ctx(request).clinic.schedule.tz
    return await render(
        request,
        "staff/erase.html",
        {
            "asked": _shown(found.request, tz),
            "others": [_shown(other, tz) for other in found.others],
            "ticked": set(ticked),
            "error": error,
            "robots": "noindex",
        },
        status_code=status,
    )


@require_staff
async def erase_page(request: Request) -> Response:
    """The confirmation step: what goes, the same-contact requests offered, what stays."""
    _admin(request)
    found = await _person(request)
    return await _confirm_page(request, found, _also(request.query_params.keys()))


@require_staff
async def erase(request: Request) -> Response:
    """Erase the request and the ticked same-contact ones, then say what was erased."""
    _admin(request)
    app = ctx(request)
    form: Mapping[str, str] = await staff_form(request)
    found = await _person(request)
    try:
        chosen = found.chosen(_also(form.keys()))
    except privacy.NotOffered:
        return await _confirm_page(
            request, found, status=422,
            error="One of the requests ticked is not offered with this one. Check the list again.",
        )  # fmt: skip
    staff = staff_of(request)
    try:
        erased = await privacy.erase(app.db, chosen, app.clock(), staff.email, staff.id)
    except privacy.NotHeld:
        raise HTTPException(404) from None
    query = urlencode([("r", reference) for reference in erased])
    return RedirectResponse(request.app.url_path_for("staff_erased") + "?" + query, 303)


@require_staff
async def erased(request: Request) -> Response:
    """After an erasure: which references are gone (checked now, not taken on trust)."""
    _admin(request)
    app = ctx(request)
    references = [
        privacy.normalise_reference(r) for r in request.query_params.getlist("r")[:MAX_SHOWN]
    ]
    results = []
    for reference in references:
        try:
            await privacy.id_for(app.db, reference)
            results.append((reference, False))
        except privacy.NotHeld:
            results.append((reference, True))
    return await render(
        request,
        "staff/erased.html",
        {"results": results, "robots": "noindex"},
    )


routes = [
    Route("/staff/requests/{consultation_id}/copy", copy, name="staff_copy"),
    Route("/staff/requests/{consultation_id}/erase", erase_page, name="staff_erase_confirm"),
    Route("/staff/requests/{consultation_id}/erase", erase, methods=["POST"], name="staff_erase"),
    Route("/staff/erased", erased, name="staff_erased"),
]
