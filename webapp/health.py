"""The health check: can the database take a write now, and is there room on its disk?

`/healthz` asks `Health.report()`, which proves a write with the database's heartbeat (a real
commit that changes no data) and looks at the free space, at most once per `TTL` of the
app's clock, so monitors polling it often cost next to nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from webapp.clock import Clock, Interval
from webapp.db import Database
from webapp.storage import MIN_FREE_BYTES, StorageUnavailable, free_bytes

TTL = timedelta(seconds=5)
# What /healthz says about each fault: no file names (it is public); the log has them.
REASONS = {
    "read-only": "the database cannot be written: its file or folder is read-only",
    "disk full": "the disk that holds the database is full",
    "I/O error": "the disk that holds the database reports errors",
    "locked": "another process has kept the database locked for too long",
    "cannot open": "the database file cannot be opened",
    "not a database": "the database file is not a database",
    "corrupt": "the database file is damaged",
    "unavailable": "the database cannot be read",
}


@dataclass(frozen=True)
class Report:
    """The answer of one check: `database` is "ok" or the fault's kind."""

    database: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when the database takes writes."""
        return self.database == "ok"

    def body(self) -> dict[str, str]:
        """The JSON body of /healthz."""
        found = {"status": "ok" if self.ok else "error", "database": self.database}
        if self.reason:
            found["reason"] = self.reason
        return found


class Health:
    """The app's health, checked at most once per `ttl` (by the app's clock)."""

    def __init__(
        self, db: Database, clock: Clock, *, ttl: timedelta = TTL, min_free: int = MIN_FREE_BYTES
    ) -> None:
        self.db = db
        self.min_free = min_free
        self._fresh = Interval(clock, ttl)
        self._last: Report | None = None
        self._lock = asyncio.Lock()

    async def report(self) -> Report:
        """The latest report, checked again when it is older than the TTL."""
        async with self._lock:  # many monitors at once: one check
            if self._last is None or self._fresh.due():
                self._last = await self._check()
                self._fresh.mark()
            return self._last

    async def _check(self) -> Report:
        try:
            await self.db.check()
        except Exception:  # whatever it is, the site cannot read its data
            return Report("unavailable", "the database cannot be read")
        try:
            free: int | None = free_bytes(self.db.path)
        except OSError:
            free = None
        if free is not None and free < self.min_free:
            self.db.note_fault("disk full", f"{self.db.path}: {free:,} bytes free on its disk")
            return Report("disk full", REASONS["disk full"])
        try:
            await self.db.probe()
        except StorageUnavailable as exc:
            return Report(exc.kind, REASONS.get(exc.kind, "the database cannot be written"))
        return Report("ok")
