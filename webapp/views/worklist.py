"""What the staff's list and a request's page show: the values around the rows the queue
reads (ages, promises, overdue and follow-up marks, who handles it, who has it open, linked
requests, mail). No routes here: views/staff.py and views/queue.py use these."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from starlette.requests import Request

from webapp import handling, outbox, privacy, queue
from webapp.consultations import BEST_TIMES, CONTACT_METHODS, SPAM_KINDS, format_phone
from webapp.context import ctx
from webapp.db import parse_utc
from webapp.hours import format_reply_by
from webapp.queue import Filter, Row
from webapp.views.common import schedule_now
from webapp.views.staff_auth import is_poll, signed_in, staff_of

LEGACY_FLAG = "No contact after 1 business day"


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


async def today_of(request: Request) -> date:
    """The clinic-local date now."""
    app = ctx(request)
    return app.clock().astimezone(app.clinic.schedule.tz).date()


async def decorate(request: Request, rows: list[Row]) -> list[Row]:
    """Add ages, the promise, overdue and follow-up marks and display labels to rows."""
    # Closures as far back as the overdue check looks, so closed days never count as open.
    now, schedule = await schedule_now(request, back=queue.OVERDUE_SCAN)
    today = now.astimezone(schedule.tz).date()
    for row in rows:
        created = parse_utc(row["created_at"])
        promised_at = parse_utc(row["reply_by"]) if row["reply_by"] else None
        promised = format_reply_by(promised_at, schedule.tz) if promised_at else ""
        overdue = queue.is_overdue(row, created, promised_at, now, schedule)
        follow = date.fromisoformat(row["follow_up_on"]) if row["follow_up_on"] else None
        row.update(
            age=age_text(created, now),
            overdue=overdue,
            overdue_text=(f"Overdue: promised {promised}" if promised else LEGACY_FLAG)
            if overdue
            else "",
            created_local=created.astimezone(schedule.tz),
            status_label=queue.STATUSES[row["status"]],
            method_label=CONTACT_METHODS[row["contact_method"]],
            time_label=BEST_TIMES[row["best_time"]],
            phone_display=format_phone(row["phone"]) if row["phone"] else "",
            spam_label=SPAM_KINDS.get(row["suspected_spam"] or "", ""),
            # What the visitor's confirmation promised, with its date ("by Thursday, ...").
            promised=promised,
            preview=queue.preview(row["message"]),
            follow_up=follow,
            follow_up_state=queue.follow_up_state(follow, today, row["status"]),
        )
    return rows


async def list_context(request: Request, filter_: Filter | None = None) -> dict[str, Any]:
    """Everything the list fragment (and the dashboard around it) shows."""
    filter_ = filter_ or Filter.parse(request.query_params)
    app = ctx(request)
    me = staff_of(request).id
    today = await today_of(request)
    counts = await queue.counts(app.db, today, me)
    rows, total = await queue.page(app.db, filter_, counts, today, me)
    capped = total > queue.COUNT_CAP
    # Audited: how many matched, never what was typed; once per person, view and query in
    # ten minutes (live search asks again on each pause in typing, paging and reloads).
    seen = (signed_in(request).id_hash, filter_.status, filter_.q)
    if filter_.q and not is_poll(request) and app.searches_audited.first(seen):
        await privacy.record_search(
            app.db, app.clock(), staff_of(request), total, capped, filter_.status
        )
    pages = max(1, -(-total // queue.PER_PAGE))
    if capped:  # the exact number is unknown: offer the next page while pages are full
        pages = filter_.page + (1 if len(rows) == queue.PER_PAGE else 0)
    ids = [row["id"] for row in rows]
    linked = await queue.linked_counts(app.db, ids)
    others = await queue.open_by_others(app.db, ids, me, app.clock())
    for row in await decorate(request, rows):
        row["linked"] = linked.get(row["id"], 0)
        row["open_by"] = others.get(row["id"], [])
    return {
        "filter": filter_,
        "rows": rows,
        "total": total,
        "capped": capped,
        "pages": pages,
        "counts": counts,
        "views": queue.VIEWS,
        "sorts": queue.SORTS,
        "statuses": queue.STATUSES,
        "spam": queue.SPAM,
        "bulk_done": "",
        "bulk_refused": [],
        **bulk_from_query(request.query_params),
    }


REFERENCE = re.compile(r"^AKI-[0-9A-Z]{4,8}$")


def bulk_message(
    changed: Sequence[str], refused: Sequence[tuple[str, str]], new: str, selected: bool
) -> dict[str, Any]:
    """What the list says after a bulk change: how many changed, which could not and why."""
    count = len(changed)
    if count:
        plural = "" if count == 1 else "s"
        done = f"{count} request{plural} marked {queue.STATUSES[new].lower()}."
    else:
        done = "" if selected else "Select one or more requests first."
    return {"bulk_done": done, "bulk_refused": list(refused)}


def bulk_params(result: handling.BulkResult, new: str, selected: bool) -> dict[str, str]:
    """The same, for the redirect after a form sent without JavaScript (no free text in it:
    the list writes the words)."""
    params = {"bulk": new, "changed": str(len(result.changed))}
    if not selected:
        params["changed"] = "none"
    if result.refused:
        params["skipped"] = ",".join(ref for ref, _ in result.refused[:20])
    return params


def bulk_from_query(params: Mapping[str, str]) -> dict[str, Any]:
    """The bulk change's message from the redirect's parameters (the no-JavaScript path)."""
    new = params.get("bulk", "")
    if new not in queue.STATUSES:
        return {}
    raw = params.get("changed", "")
    count = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0
    skipped = [r for r in params.get("skipped", "").split(",") if REFERENCE.match(r)][:20]
    refused = [(r, "its status does not allow it") for r in skipped]
    return bulk_message(["?"] * count, refused, new, raw != "none")


async def mail_health(request: Request) -> outbox.Health:
    """Whether mail gets out, for the staff's banner."""
    app = ctx(request)
    return await outbox.health(app.db, app.clock(), configured=app.mailer.configured)


async def detail_extras(request: Request, found: Row) -> dict[str, Any]:
    """A request page's work-queue values: handling, attempts, linked requests, who else has
    it open, its mails."""
    app = ctx(request)
    me = staff_of(request).id
    _, schedule = await schedule_now(request)
    linked = await queue.linked(app.db, found)
    for other in linked:
        other["created_local"] = parse_utc(other["created_at"]).astimezone(schedule.tz)
        other["status_label"] = queue.STATUSES[other["status"]]
    attempts = await handling.attempts_of(app.db, found["id"])
    for attempt in attempts:
        attempt["at_local"] = parse_utc(str(attempt["at"])).astimezone(schedule.tz)
    others = await queue.open_by_others(app.db, [found["id"]], me, app.clock())
    return {
        "colleagues": await handling.colleagues(app.db),
        "me": staff_of(request),
        "attempts": attempts,
        "outcomes": handling.OUTCOMES,
        "linked": linked,
        "open_by": others.get(found["id"], []),
        "deliveries": await outbox.for_request(app.db, found["id"]),
        "mail": await mail_health(request),
        "tz": schedule.tz,
        "today": await today_of(request),
        "handling_error": "",
    }
