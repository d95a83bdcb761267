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
# The per-client limit's events (app.py names its Limit with it). The per-address flood limit
# counts the same events, over a day: each admitted request is one event for both, so it
# costs one row and one index entry, not two.
BUCKET = "consultation"


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
    flood_client: Limit = Limit(BUCKET, *FLOOD_PER_CLIENT)

    def checks(self, client: str, now: datetime) -> tuple[Admit, Flood]:
        """consultations.store's `admit` and `flood` for one request from `client`.

        `admit` reads all three limits in one statement: over the per-client limit, it
        refuses and records nothing; otherwise it counts the request under each limit in one
        statement (one event serves both per-client limits: BUCKET). `flood`, called after
        it in the same transaction, answers from what `admit` read: over either flood limit.
        Every admitted request is counted, flagged or not, so a flood is measured at its
        full size.
        """
        wanted = (
            (self.per_client, client),
            (self.flood_site, "site"),
            (self.flood_client, client),
        )
        # One event per bucket and key: the per-client limits share theirs (BUCKET).
        events = list({(limit.bucket, key): (limit, key) for limit, key in wanted}.values())
        flooded: list[bool] = []

        async def admit(conn: aiosqlite.Connection) -> bool:
            mine, site, own = await self.throttle.counts(conn, wanted, now)
            if mine >= self.per_client.limit:
                return False
            await self.throttle.record(conn, events, now)
            flooded[:] = [site >= self.flood_site.limit or own >= self.flood_client.limit]
            return True

        async def flood(conn: aiosqlite.Connection) -> bool:
            if not flooded:
                raise RuntimeError("flood is answered only after admit, in its transaction")
            return flooded[0]

        return admit, flood

    async def retry_after(self, client: str, now: datetime) -> int:
        """Whole seconds until this client may send a new request again."""
        return await self.throttle.retry_after(self.per_client, client, now)
