"""Working a request: who handles it, when to call back, contact attempts, who has it open,
and status changes for many at once.

Each change and its audit entry are one write transaction, and each rule is checked inside
it (two people assigning the same request at once: the second sees the first's change).
Errors are types; the views choose the words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import aiosqlite

from webapp import audit
from webapp.auth import Staff
from webapp.db import Database, utc_now_iso
from webapp.followup import FINISHED, NEXT, STATUSES, RequestNotFound, StillSuspected

OUTCOMES = {"no_answer": "No answer", "voicemail": "Left voicemail", "spoke": "Spoke"}
# Two clicks on the same button this close together are one attempt (a double click).
SAME_ATTEMPT = timedelta(seconds=10)
FOLLOW_UP_AHEAD = timedelta(days=366)
MAX_BULK = 100


class AssigneeUnavailable(Exception):
    """The colleague chosen has no active account."""


class RequestFinished(Exception):
    """The request is closed or not a fit: reopen it before planning more contact."""


class FollowUpOutOfRange(ValueError):
    """A follow-up date before today or more than a year ahead."""


@dataclass(frozen=True)
class BulkResult:
    """What a change of many requests did: which changed, which could not and why."""

    changed: list[str] = field(default_factory=list)  # references
    refused: list[tuple[str, str]] = field(default_factory=list)  # (reference, reason)


async def _request(conn: aiosqlite.Connection, consultation_id: int) -> aiosqlite.Row:
    async with conn.execute(
        "SELECT id, reference, status, suspected_spam, assigned_to, follow_up_on"
        " FROM consultations WHERE id = ?",
        (consultation_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise RequestNotFound(consultation_id)
    if row["suspected_spam"] is not None:
        raise StillSuspected
    return row


async def assign(
    db: Database, consultation_id: int, to: int | None, staff: Staff, now: datetime
) -> bool:
    """Give a request to a colleague (or oneself), or to no one (`to` None); False when it
    was already so. Raises RequestNotFound, StillSuspected, AssigneeUnavailable."""

    async def work(conn: aiosqlite.Connection) -> bool:
        row = await _request(conn, consultation_id)
        if row["assigned_to"] == to:
            return False
        email = ""
        if to is not None:
            async with conn.execute(
                "SELECT email FROM staff WHERE id = ? AND active = 1", (to,)
            ) as cursor:
                found = await cursor.fetchone()
            if found is None:
                raise AssigneeUnavailable(to)
            email = found[0]
        await conn.execute(
            "UPDATE consultations SET assigned_to = ?, updated_at = ? WHERE id = ?",
            (to, utc_now_iso(now), consultation_id),
        )
        detail = f"to {email}" if to is not None else "to no one"
        await audit.record(
            conn, now, staff.email, "assigned", staff_id=staff.id,
            consultation_id=consultation_id, detail=detail,
        )  # fmt: skip
        return True

    return await db.write(work)


def check_follow_up(day: date, today: date) -> None:
    """A follow-up date must be today or later, and within a year (pure)."""
    if day < today or day > today + FOLLOW_UP_AHEAD:
        raise FollowUpOutOfRange(day)


async def set_follow_up(
    db: Database,
    consultation_id: int,
    day: date | None,
    today: date,
    staff: Staff,
    now: datetime,
) -> bool:
    """Set ("call back on") or clear the follow-up date; False when unchanged.

    `today` is the clinic-local date. Raises RequestNotFound, StillSuspected,
    RequestFinished (setting one), FollowUpOutOfRange."""
    if day is not None:
        check_follow_up(day, today)
    text = day.isoformat() if day is not None else None

    async def work(conn: aiosqlite.Connection) -> bool:
        row = await _request(conn, consultation_id)
        if row["follow_up_on"] == text:
            return False
        if text is not None and row["status"] in FINISHED:
            raise RequestFinished
        await conn.execute(
            "UPDATE consultations SET follow_up_on = ?, updated_at = ? WHERE id = ?",
            (text, utc_now_iso(now), consultation_id),
        )
        await audit.record(
            conn, now, staff.email, "follow_up", staff_id=staff.id,
            consultation_id=consultation_id,
            detail=f"call back on {text}" if text else "follow-up date cleared",
        )  # fmt: skip
        return True

    return await db.write(work)


async def log_attempt(
    db: Database, consultation_id: int, outcome: str, staff: Staff, now: datetime
) -> int:
    """Record a contact attempt with one click; returns how many there have been.

    "Spoke" moves a new request to contacted (its own audited status change). The same
    person pressing the same button twice within seconds logs it once. Raises
    RequestNotFound, StillSuspected, RequestFinished, ValueError (unknown outcome)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    stamp = utc_now_iso(now)

    async def work(conn: aiosqlite.Connection) -> int:
        row = await _request(conn, consultation_id)
        if row["status"] in FINISHED:
            raise RequestFinished
        async with conn.execute(
            "SELECT 1 FROM contact_attempts WHERE consultation_id = ? AND staff_id = ?"
            " AND outcome = ? AND at > ?",
            (consultation_id, staff.id, outcome, utc_now_iso(now - SAME_ATTEMPT)),
        ) as cursor:
            repeat = await cursor.fetchone() is not None
        if not repeat:
            await conn.execute(
                "INSERT INTO contact_attempts (consultation_id, staff_id, outcome, at)"
                " VALUES (?, ?, ?, ?)",
                (consultation_id, staff.id, outcome, stamp),
            )
        async with conn.execute(
            "SELECT attempts FROM consultations WHERE id = ?", (consultation_id,)
        ) as cursor:
            found = await cursor.fetchone()
        count = int(found[0]) if found else 0
        if repeat:
            return count
        await conn.execute(
            "UPDATE consultations SET updated_at = ? WHERE id = ?", (stamp, consultation_id)
        )
        await audit.record(
            conn, now, staff.email, "contact_attempt", staff_id=staff.id,
            consultation_id=consultation_id, detail=f"{OUTCOMES[outcome]} (attempt {count})",
        )  # fmt: skip
        if outcome == "spoke" and row["status"] == "new":
            await _move(conn, consultation_id, "new", "contacted", staff, now, stamp)
        return count

    return await db.write(work)


async def _move(
    conn: aiosqlite.Connection,
    consultation_id: int,
    old: str,
    new: str,
    staff: Staff,
    now: datetime,
    stamp: str,
    note: str = "",
) -> None:
    await conn.execute(
        "UPDATE consultations SET status = ?, updated_at = ?, closed_at = ? WHERE id = ?",
        (new, stamp, stamp if new in FINISHED else None, consultation_id),
    )
    await audit.record(
        conn, now, staff.email, "status_change", staff_id=staff.id,
        consultation_id=consultation_id, detail=f"{STATUSES[old]} → {STATUSES[new]}{note}",
    )  # fmt: skip


async def change_many(
    db: Database, ids: Sequence[int], new: str, staff: Staff, now: datetime
) -> BulkResult:
    """Move each of the selected requests to `new` where the workflow allows it, all in one
    transaction with an audit entry per request; the others are reported, not changed."""
    if new not in STATUSES:
        raise ValueError(f"unknown status {new!r}")
    wanted = list(dict.fromkeys(ids))[:MAX_BULK]
    stamp = utc_now_iso(now)

    async def work(conn: aiosqlite.Connection) -> BulkResult:
        result = BulkResult()
        marks = ", ".join("?" for _ in wanted)
        async with conn.execute(
            "SELECT id, reference, status, suspected_spam FROM consultations"  # noqa: S608
            f" WHERE id IN ({marks}) ORDER BY id",
            wanted,
        ) as cursor:
            rows = await cursor.fetchall()
        for row in rows:
            if row["suspected_spam"] is not None:
                result.refused.append((row["reference"], "suspected spam"))
            elif row["status"] == new:
                result.refused.append((row["reference"], f"already {STATUSES[new].lower()}"))
            elif new not in NEXT[row["status"]]:
                result.refused.append(
                    (row["reference"], f"{STATUSES[row['status']].lower()}, cannot become so")
                )
            else:
                await _move(conn, row["id"], row["status"], new, staff, now, stamp, " (bulk)")
                result.changed.append(row["reference"])
        return result

    return await db.write(work) if wanted else BulkResult()


async def record_view(db: Database, consultation_id: int, staff: Staff, now: datetime) -> None:
    """Staff opened a request: the audit entry, and "… has this open" for the others."""

    async def work(conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "INSERT INTO request_views (consultation_id, staff_id, at) SELECT ?, ?, ?"
            " WHERE EXISTS (SELECT 1 FROM consultations WHERE id = ?)"
            " ON CONFLICT (consultation_id, staff_id) DO UPDATE SET at = excluded.at",
            (consultation_id, staff.id, utc_now_iso(now), consultation_id),
        )
        await audit.record(
            conn, now, staff.email, "view_request", staff_id=staff.id,
            consultation_id=consultation_id,
        )  # fmt: skip

    await db.write(work)


async def attempts_of(db: Database, consultation_id: int) -> list[dict[str, object]]:
    """A request's contact attempts, oldest first, with who made them."""
    rows = await db.fetchall(
        "SELECT a.outcome, a.at, coalesce(s.email, '') AS author FROM contact_attempts a"
        " LEFT JOIN staff s ON s.id = a.staff_id WHERE a.consultation_id = ? ORDER BY a.at, a.id",
        (consultation_id,),
    )
    return [{**dict(r), "label": OUTCOMES[r["outcome"]]} for r in rows]


async def colleagues(db: Database) -> list[Staff]:
    """Active accounts a request can be assigned to, by email."""
    rows = await db.fetchall(
        "SELECT id, email, active, role FROM staff WHERE active = 1 ORDER BY email"
    )
    return [Staff(r["id"], r["email"], True, r["role"]) for r in rows]
