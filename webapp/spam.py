"""Suspected spam: the signals that flag a request, what a flood is, and how long it is kept.

A flagged request is stored like any other (consultations.store) and its sender gets the same
answer; only staff see the flag, under its own filter (followup). The daily retention job
(webapp/retention.py) deletes those left unmoved for KEEP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from webapp.consultations import HONEYPOT, Admit, Flood
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
