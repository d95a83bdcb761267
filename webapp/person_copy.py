"""A copy of everything held about a person (a subject access request): their requests, the
staff's notes and each request's history, as a JSON-ready document or one readable web page.
Making one is audited per request, by reference only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite
import jinja2

from webapp import audit
from webapp.consultations import BEST_TIMES, CONTACT_METHODS, SPAM_KINDS
from webapp.db import Database, parse_utc, utc_now_iso
from webapp.followup import STATUSES
from webapp.hours import format_date, format_time
from webapp.privacy import Held


async def _history(db: Database, consultation_id: int, since: str) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT at, actor, action, detail FROM audit_log WHERE consultation_id = ? AND at >= ?"
        " ORDER BY at, id",
        (consultation_id, since),
    )
    return [
        {
            "at": row["at"],
            "what": audit.LABELS.get(row["action"], row["action"]),
            "by": row["actor"],
            "detail": row["detail"],
        }
        for row in rows
    ]


async def copy(db: Database, chosen: Sequence[Held], clinic_name: str, now: datetime) -> Any:
    """Everything held about the chosen requests: their fields, notes and history, as a
    JSON-ready document (UTC times). Requests deleted meanwhile are left out."""
    requests = []
    for held in chosen:
        row = await db.fetchone("SELECT * FROM consultations WHERE id = ?", (held.id,))
        if row is None:
            continue
        notes = await db.fetchall(
            "SELECT n.created_at, s.email AS author, n.body FROM notes n"
            " JOIN staff s ON s.id = n.staff_id WHERE n.consultation_id = ?"
            " ORDER BY n.created_at, n.id",
            (held.id,),
        )
        requests.append(
            {
                "reference": row["reference"],
                "why_included": held.match or "the request asked about",
                "received_at": row["created_at"],
                "name": row["full_name"],
                "email": row["email"],
                "phone": row["phone"],
                "preferred_contact": CONTACT_METHODS.get(row["contact_method"], ""),
                "best_time": BEST_TIMES.get(row["best_time"], ""),
                "message": row["message"],
                "agreed_to_privacy_notice_at": row["consent_at"],
                "status": STATUSES.get(row["status"], row["status"]),
                "suspected_spam": SPAM_KINDS.get(row["suspected_spam"] or "") or None,
                "reply_promised_by": row["reply_by"],
                "closed_at": row["closed_at"],
                "last_updated_at": row["updated_at"],
                "notes": [
                    {"written_at": n["created_at"], "by": n["author"], "text": n["body"]}
                    for n in notes
                ],
                "history": await _history(db, held.id, row["created_at"]),
            }
        )
    return {
        "clinic": clinic_name,
        "made_at": utc_now_iso(now),
        "about": "Everything the clinic's website and staff tool hold about these consultation"
        " requests: what was sent, the staff's notes, and who opened or changed each one.",
        "requests": requests,
    }


async def record_copy(
    db: Database,
    chosen: Sequence[Held],
    kind: str,
    now: datetime,
    actor: str,
    staff_id: int | None = None,
) -> None:
    """Audit a copy made for the person: one entry per request, by reference only."""

    async def work(conn: aiosqlite.Connection) -> None:
        for held in chosen:
            await audit.record(
                conn, now, actor, "export_person", staff_id=staff_id, consultation_id=held.id,
                detail=f"{held.reference} ({kind})",
            )  # fmt: skip

    await db.write(work)


def local_text(stored: str | None, tz: ZoneInfo) -> str:
    """A stored UTC time as read at the clinic: "Tuesday, December 1, 2026, 10:30 AM ET"."""
    if not stored:
        return ""
    local = parse_utc(stored).astimezone(tz)
    return f"{format_date(local.date())}, {format_time(local.time())} ET"


def copy_as_html(document: Any, templates_dir: Path, tz: ZoneInfo) -> str:
    """The copy as one readable, self-contained web page (templates/person_copy.html)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = lambda stored: local_text(stored, tz)
    return env.get_template("person_copy.html").render(doc=document)
