"""Hourly housekeeping: forget rate-limit events and sessions that can no longer matter."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiosqlite

from webapp import throttle
from webapp.auth import ABSOLUTE_LIMIT, IDLE_LIMIT
from webapp.db import Database, utc_now_iso
from webapp.jobs import Job


async def tidy(db: Database, now: datetime) -> str:
    """Delete old rate-limit events and expired sessions; a one-line summary."""

    async def work(conn: aiosqlite.Connection) -> str:
        events = await throttle.prune(conn, now)
        cursor = await conn.execute(
            "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?",
            (utc_now_iso(now - IDLE_LIMIT), utc_now_iso(now - ABSOLUTE_LIMIT)),
        )
        return f"{events} rate-limit events, {cursor.rowcount} expired sessions deleted"

    return await db.write(work)


def job(db: Database) -> Job:
    """The housekeeping job, every hour."""

    async def run(now: datetime) -> str:
        return await tidy(db, now)

    return Job("housekeeping", run, every=timedelta(hours=1))
