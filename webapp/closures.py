"""Dated closures and special hours: parsing and the queries behind them."""

from __future__ import annotations

from datetime import date, datetime, time

import aiosqlite

from webapp.db import Database, utc_now_iso
from webapp.hours import Override, parse_time

MAX_REASON = 80


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


def _row_to_override(row) -> Override:
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


async def put(db: Database, override: Override, now: datetime) -> None:
    """Add a closure, replacing any entry for the same day."""

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

    await db.write(work)


async def remove(db: Database, day: date) -> bool:
    """Delete the entry for day; False when there was none."""

    async def work(conn: aiosqlite.Connection) -> bool:
        cursor = await conn.execute("DELETE FROM closures WHERE day = ?", (day.isoformat(),))
        return cursor.rowcount > 0

    return await db.write(work)
