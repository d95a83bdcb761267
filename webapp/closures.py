"""Dated closures and special hours: parsing and the queries behind them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

import aiosqlite

from webapp import audit
from webapp.db import Database, utc_now_iso
from webapp.hours import Override, parse_time

MAX_REASON = 80
MAX_DAYS = 62  # one entry covers at most this many days ("closed 24-26 December")
# The name put_range and remove_range count their changes under (Database.changed).
CHANGED = "closures"


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


def make_range(
    first: str | date,
    last: str | date | None,
    reason: str,
    opens: str | None = None,
    closes: str | None = None,
) -> list[Override]:
    """One entry for each day from `first` to `last` (the same day when None or empty);
    ValueError says what is wrong."""
    start = make_override(first, reason, opens, closes)
    end = (
        start.day
        if last is None or last == ""
        else (last if isinstance(last, date) else parse_day(last))
    )
    if end < start.day:
        raise ValueError("the last day must be on or after the first")
    days = (end - start.day).days + 1
    if days > MAX_DAYS:
        raise ValueError(f"one entry covers at most {MAX_DAYS} days; add longer closures in parts")
    return [replace(start, day=start.day + timedelta(days=n)) for n in range(days)]


def describe_range(entries: Sequence[Override]) -> str:
    """ "2026-12-24 to 2026-12-26 closed (Christmas)", or one day as `describe` writes it."""
    if len(entries) == 1:
        return describe(entries[0])
    first, last = entries[0], entries[-1]
    return f"{first.day.isoformat()} to {describe(last)}"


@dataclass(frozen=True)
class Stretch:
    """Consecutive days with the same hours and reason: one line on the staff's page."""

    first: date
    last: date
    reason: str
    opens: time | None = None
    closes: time | None = None

    @property
    def days(self) -> int:
        """How many days it covers."""
        return (self.last - self.first).days + 1


def stretches(entries: Sequence[Override]) -> list[Stretch]:
    """Group dated entries (sorted by day) into runs of consecutive alike days (pure)."""
    found: list[Stretch] = []
    for entry in entries:
        previous = found[-1] if found else None
        if (
            previous is not None
            and entry.day == previous.last + timedelta(days=1)
            and (entry.reason, entry.opens, entry.closes)
            == (previous.reason, previous.opens, previous.closes)
        ):
            found[-1] = replace(previous, last=entry.day)
        else:
            found.append(Stretch(entry.day, entry.day, entry.reason, entry.opens, entry.closes))
    return found


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
    await put_range(db, [override], now, today, actor, staff_id)


async def put_range(
    db: Database,
    entries: Sequence[Override],
    now: datetime,
    today: date,
    actor: str,
    staff_id: int | None = None,
) -> None:
    """Add closures for several days (replacing entries for those days): one change, with
    one audit entry. A first day before `today` (clinic-local) raises DateInPast."""
    if not entries:
        return
    if min(e.day for e in entries) < today:
        raise DateInPast

    async def work(conn: aiosqlite.Connection) -> None:
        await conn.executemany(
            "INSERT INTO closures (day, opens, closes, reason, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (day) DO UPDATE SET opens = excluded.opens,"
            " closes = excluded.closes, reason = excluded.reason",
            [
                (
                    override.day.isoformat(),
                    override.opens.strftime("%H:%M") if override.opens else None,
                    override.closes.strftime("%H:%M") if override.closes else None,
                    override.reason,
                    utc_now_iso(now),
                )
                for override in entries
            ],
        )
        await audit.record(
            conn, now, actor, "closure_add", staff_id=staff_id, detail=describe_range(entries)
        )

    await db.write(work)
    db.changed[CHANGED] += 1


async def remove(
    db: Database, day: date, now: datetime, actor: str, staff_id: int | None = None
) -> bool:
    """Delete the entry for day, with its audit entry; False when there was none."""
    return bool(await remove_range(db, day, day, now, actor, staff_id))


async def remove_range(
    db: Database,
    first: date,
    last: date,
    now: datetime,
    actor: str,
    staff_id: int | None = None,
) -> list[Override]:
    """Delete the entries from `first` to `last`: one change, one audit entry. Returns what
    was removed (to offer an undo); empty when there was nothing."""
    if last < first or (last - first).days >= MAX_DAYS:
        raise ValueError(f"a removal covers 1 to {MAX_DAYS} days")

    async def work(conn: aiosqlite.Connection) -> list[Override]:
        async with conn.execute(
            "DELETE FROM closures WHERE day BETWEEN ? AND ? RETURNING day, opens, closes, reason",
            (first.isoformat(), last.isoformat()),
        ) as cursor:
            rows = await cursor.fetchall()
        removed = sorted((_row_to_override(row) for row in rows), key=lambda o: o.day)
        if not removed:
            return []
        detail = (
            removed[0].day.isoformat()
            if len(removed) == 1
            else f"{removed[0].day.isoformat()} to {removed[-1].day.isoformat()}"
        )
        await audit.record(conn, now, actor, "closure_remove", staff_id=staff_id, detail=detail)
        return removed

    removed = await db.write(work)
    db.changed[CHANGED] += 1
    return removed
