"""Staff follow-up of consultation requests: status, notes, counts, retention.

Listing and search are webapp/queue.py; assignment, follow-up dates and contact attempts
webapp/handling.py."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import aiosqlite

from webapp import audit
from webapp.auth import Staff
from webapp.consultations import SPAM_KINDS
from webapp.db import Database, utc_now_iso

STATUSES = {
    "new": "New",
    "contacted": "Contacted",
    "scheduled": "Scheduled",
    "not_a_fit": "Not a fit",
    "closed": "Closed",
}
# Where a request may go next from each status (closed ones can be reopened).
NEXT = {
    "new": ("contacted", "not_a_fit", "closed"),
    "contacted": ("scheduled", "not_a_fit", "closed"),
    "scheduled": ("closed", "not_a_fit"),
    "not_a_fit": ("contacted",),
    "closed": ("contacted",),
}
FINISHED = {"not_a_fit", "closed"}
# The dashboard's filter for requests stored as suspected spam (not a status: a flag).
SPAM = "spam"
SPAM_LABEL = "Suspected spam"
MAX_NOTE = 2000
COLUMNS = (
    "id, reference, full_name, email, phone, contact_method, best_time, message, status,"
    " created_at, updated_at, suspected_spam, reply_by, closed_at, assigned_to, follow_up_on,"
    " attempts, coalesce((SELECT email FROM staff WHERE staff.id = assigned_to), '') AS assignee"
)


Row = dict[str, Any]


class RequestNotFound(LookupError):
    """No request has that id (never stored, or deleted)."""


class StillSuspected(Exception):
    """A status change for a request still marked as suspected spam (move it to the queue)."""

    def __init__(self) -> None:
        super().__init__("This request is marked as suspected spam: move it to the queue first.")


class TransitionRefused(Exception):
    """A status change the workflow does not allow; the message says why, for staff."""

    def __init__(self, old: str, new: str) -> None:
        target = STATUSES.get(new, new).lower()
        super().__init__(f"A request that is {STATUSES[old].lower()} cannot become {target}.")
        self.old = old
        self.new = new


async def counts(db: Database) -> dict[str, int]:
    """How many requests are in each status, suspected spam apart under SPAM (kept by
    triggers, so no counting here)."""
    rows = await db.fetchall("SELECT status, n FROM consultation_counts")
    found = {row[0]: row[1] for row in rows}
    return {status: found.get(status, 0) for status in (*STATUSES, SPAM)}


async def count_new(db: Database) -> int:
    """Requests nobody has contacted yet."""
    row = await db.fetchone("SELECT n FROM consultation_counts WHERE status = 'new'")
    return int(row[0]) if row else 0


async def get(db: Database, consultation_id: int) -> Row | None:
    """One request with its notes."""
    row = await db.fetchone(
        f"SELECT {COLUMNS} FROM consultations WHERE id = ?",  # noqa: S608
        (consultation_id,),
    )
    if row is None:
        return None
    notes = await db.fetchall(
        "SELECT n.body, n.created_at, s.email AS author FROM notes n"
        " JOIN staff s ON s.id = n.staff_id WHERE n.consultation_id = ?"
        " ORDER BY n.created_at, n.id",
        (consultation_id,),
    )
    return {**dict(row), "notes": [dict(n) for n in notes]}


async def record_view(db: Database, consultation_id: int, staff: Staff, now: datetime) -> None:
    """Note in the audit trail that staff opened a request."""
    await audit.log(
        db, now, staff.email, "view_request", staff_id=staff.id, consultation_id=consultation_id
    )


async def change_status(
    db: Database, consultation_id: int, new: str, staff: Staff, now: datetime
) -> None:
    """Move a request to `new`, with its audit entry.

    Raises RequestNotFound, or TransitionRefused when the workflow does not allow the move.
    """
    stamp = utc_now_iso(now)

    async def work(conn: aiosqlite.Connection) -> None:
        async with conn.execute(
            "SELECT status, suspected_spam FROM consultations WHERE id = ?", (consultation_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise RequestNotFound(consultation_id)
        old = row[0]
        if row[1] is not None:
            raise StillSuspected
        if new not in NEXT.get(old, ()):
            raise TransitionRefused(old, new)
        await conn.execute(
            "UPDATE consultations SET status = ?, updated_at = ?, closed_at = ? WHERE id = ?",
            (new, stamp, stamp if new in FINISHED else None, consultation_id),
        )
        await audit.record(
            conn, now, staff.email, "status_change", staff_id=staff.id,
            consultation_id=consultation_id, detail=f"{STATUSES[old]} → {STATUSES[new]}",
        )  # fmt: skip

    await db.write(work)


async def move_to_queue(db: Database, consultation_id: int, staff: Staff, now: datetime) -> bool:
    """Take a request out of suspected spam: it joins the queue (and the "new" figures) as it
    is, with its audit entry. False when it was not suspected (already moved: nothing to do).

    Raises RequestNotFound.
    """
    stamp = utc_now_iso(now)

    async def work(conn: aiosqlite.Connection) -> bool:
        async with conn.execute(
            "SELECT suspected_spam FROM consultations WHERE id = ?", (consultation_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise RequestNotFound(consultation_id)
        if row[0] is None:
            return False
        await conn.execute(
            "UPDATE consultations SET suspected_spam = NULL, updated_at = ? WHERE id = ?",
            (stamp, consultation_id),
        )
        await audit.record(
            conn, now, staff.email, "spam_restore", staff_id=staff.id,
            consultation_id=consultation_id, detail=f"flagged as {SPAM_KINDS[row[0]]}",
        )  # fmt: skip
        return True

    return await db.write(work)


async def add_note(
    db: Database, consultation_id: int, body: str, staff: Staff, now: datetime
) -> None:
    """Append a note (its text stays out of the audit trail); RequestNotFound if none."""
    stamp = utc_now_iso(now)

    async def work(conn: aiosqlite.Connection) -> None:
        async with conn.execute(
            "SELECT 1 FROM consultations WHERE id = ?", (consultation_id,)
        ) as cursor:
            if await cursor.fetchone() is None:
                raise RequestNotFound(consultation_id)
        cursor = await conn.execute(
            "INSERT INTO notes (consultation_id, staff_id, body, created_at) VALUES (?, ?, ?, ?)",
            (consultation_id, staff.id, body, stamp),
        )
        await conn.execute(
            "UPDATE consultations SET updated_at = ? WHERE id = ?", (stamp, consultation_id)
        )
        await audit.record(
            conn, now, staff.email, "add_note", staff_id=staff.id,
            consultation_id=consultation_id, detail=f"note #{cursor.lastrowid}",
        )  # fmt: skip

    await db.write(work)


def note_problem(body: str) -> str | None:
    """Why a note cannot be saved, or None."""
    if not body.strip():
        return "Write the note first."
    if len(body) > MAX_NOTE:
        return f"Keep notes to {MAX_NOTE:,} characters or fewer (this one has {len(body):,})."
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", body):
        return "The note contains characters that cannot be saved."
    return None


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will show as text, never run as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%"):
        return "'" + text
    return text
