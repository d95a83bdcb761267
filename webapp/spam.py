"""Suspected spam: the signals that flag a request, what a flood is, and the 30-day purge.

A flagged request is stored like any other (consultations.store) and its sender gets the same
answer; only staff see the flag, under its own filter (followup).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import aiosqlite
import anyio

from webapp import audit
from webapp.consultations import HONEYPOT, Admit, Flood
from webapp.db import Database, checkpoint, utc_now_iso
from webapp.jobs import Job
from webapp.throttle import Limit, Throttle

KEEP = timedelta(days=30)
# "Flood" for a clinic whose families, offices and shelters share one address: per address,
# more in a day than any household sends; or, site-wide, far more than the clinic ever gets.
FLOOD_PER_CLIENT = (12, timedelta(days=1))


def automated_signal(values: Mapping[str, str], form_age: timedelta, fastest: float) -> str | None:
    """The bot signal a submission carries by itself (honeypot, too fast), or None."""
    if values.get(HONEYPOT):
        return "honeypot"
    if form_age < timedelta(seconds=fastest):
        return "too_fast"
    return None


@dataclass(frozen=True)
class Intake:
    """The limits a new request meets in its write transaction, kept in the rate_events table.

    `per_client` refuses (RateLimited: the visitor is told plainly, nothing is stored);
    the flood limits only flag, so a real person caught in one is still stored.
    """

    throttle: Throttle
    per_client: Limit
    flood_site: Limit
    flood_client: Limit = Limit("consultation-flood-client", *FLOOD_PER_CLIENT)

    def admit(self, client: str, now: datetime) -> Admit:
        """Under the per-client limit? Counts this request when it is."""

        async def check(conn: aiosqlite.Connection) -> bool:
            return await self.throttle.reserve(conn, self.per_client, client, now) is not None

        return check

    def flood(self, client: str, now: datetime) -> Flood:
        """Over either flood limit? Every admitted request is counted, flagged or not."""

        async def check(conn: aiosqlite.Connection) -> bool:
            site = await self.throttle.hit(conn, self.flood_site, "site", now)
            own = await self.throttle.hit(conn, self.flood_client, client, now)
            return not (site and own)

        return check

    async def retry_after(self, client: str, now: datetime) -> int:
        """Whole seconds until this client may send a new request again."""
        return await self.throttle.retry_after(self.per_client, client, now)


async def purge_spam(db: Database, now: datetime, keep: timedelta = KEEP) -> int:
    """Delete suspected spam that staff left unmoved for `keep` (30 days); their notes go too.

    The cut-off comes from the app's clock. One audit entry records how many, never whose.
    """
    cutoff = utc_now_iso(now - keep)

    async def work(conn: aiosqlite.Connection) -> int:
        # Freed pages are zeroed, so the deleted text does not linger in the file.
        await conn.execute("PRAGMA secure_delete = ON")
        cursor = await conn.execute(
            "DELETE FROM consultations WHERE suspected_spam IS NOT NULL AND created_at < ?",
            (cutoff,),
        )
        deleted = cursor.rowcount
        if deleted:
            await audit.record(conn, now, "system", "spam_purge", detail=f"{deleted} deleted")
        return deleted

    return await db.write(work)


def purge_job(db: Database) -> Job:
    """The daily purge of suspected spam older than 30 days, at a quiet hour."""

    async def run(now: datetime) -> str:
        deleted = await purge_spam(db, now)
        if deleted:
            await anyio.to_thread.run_sync(checkpoint, db.path)
        return f"{deleted} suspected-spam requests over 30 days old deleted"

    return Job("spam-purge", run, daily_at=time(3, 40))
