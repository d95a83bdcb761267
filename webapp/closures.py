"""Dated closures and special hours: parsing and the queries behind them."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, time

import aiosqlite

from webapp import audit
from webapp.db import Database, utc_now_iso
from webapp.hours import Override, parse_time

MAX_REASON = 80


class DateInPast(ValueError):
    """A closure for a clinic-local date that has already gone by."""

    def __init__(self) -> None:
        super().__init__("that date has passed; check the year")


def describe(override: Override) -> str:
    """One line for the audit trail and the CLI: "2026-12-24 10:00-14:00 (Christmas Eve)"."""
    hours = (
        f"{override.opens:%H:%M}-{override.closes:%H:%M}"
        if override.opens and override.closes
        else "closed"
    )
    return f"{override.day.isoformat()} {hours} ({override.reason})"


def parse_day(text: str) -> date:
    """A clinic-local date written YYYY-MM-DD."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD") from None


def make_override(
    day: str | date, reason: str, opens: str | None = None, closes: str | None = None
) -> Override:
    """Check one closure or special-hours entry; ValueError says what is wrong."""
    when = day if isinstance(day, date) else parse_day(day)
    reason = " ".join(reason.split())
    if not reason:
        raise ValueError('a reason is required, e.g. "Thanksgiving"')
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason must be at most {MAX_REASON} characters")
    if any(ord(ch) < 32 for ch in reason):
        raise ValueError("the reason must be plain text")
    if (opens is None) != (closes is None):
        raise ValueError("special hours need both an opening and a closing time")
    open_t: time | None = parse_time(opens) if opens is not None else None
    close_t: time | None = parse_time(closes) if closes is not None else None
    if open_t is not None and close_t is not None and open_t >= close_t:
        raise ValueError("the opening time must be before the closing time")
    return Override(day=when, reason=reason, opens=open_t, closes=close_t)


def _row_to_override(row: sqlite3.Row) -> Override:
    return Override(
        day=date.fromisoformat(row["day"]),
        reason=row["reason"],
        opens=time.fromisoformat(row["opens"]) if row["opens"] else None,
        closes=time.fromisoformat(row["closes"]) if row["closes"] else None,
    )


async def list_from(db: Database, first_day: date) -> list[Override]:
    """Closures on or after first_day, soonest first."""
    rows = await db.fetchall(
        "SELECT day, opens, closes, reason FROM closures WHERE day >= ? ORDER BY day",
        (first_day.isoformat(),),
    )
    return [_row_to_override(row) for row in rows]


async def put(
    db: Database,
    override: Override,
    now: datetime,
    today: date,
    actor: str,
    staff_id: int | None = None,
) -> None:
    """Add a closure (replacing any entry for the same day), with its audit entry.

    `today` is the clinic-local date now: a date before it raises DateInPast.
    """
    if override.day < today:
        raise DateInPast

    async def work(conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "INSERT INTO closures (day, opens, closes, reason, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (day) DO UPDATE SET opens = excluded.opens,"
            " closes = excluded.closes, reason = excluded.reason",
            (
                override.day.isoformat(),
                override.opens.strftime("%H:%M") if override.opens else None,
                override.closes.strftime("%H:%M") if override.closes else None,
                override.reason,
                utc_now_iso(now),
            ),
        )
        await audit.record(
            conn, now, actor, "closure_add", staff_id=staff_id, detail=describe(override)
        )

    await db.write(work)


async def remove(
    db: Database, day: date, now: datetime, actor: str, staff_id: int | None = None
) -> bool:
    """Delete the entry for day, with its audit entry; False when there was none."""

    async def work(conn: aiosqlite.Connection) -> bool:
        cursor = await conn.execute("DELETE FROM closures WHERE day = ?", (day.isoformat(),))
        if cursor.rowcount == 0:
            return False
        await audit.record(
            conn, now, actor, "closure_remove", staff_id=staff_id, detail=day.isoformat()
        )
        return True

    return await db.write(work)
