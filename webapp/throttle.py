"""Rate limits kept in the database: shared by every worker, checked and counted atomically.

A limit is "at most `limit` events per key within `window`". `reserve` counts and records in
the caller's write transaction (BEGIN IMMEDIATE), so however many requests arrive at once,
no more than `limit` get through: the check and the act are one step. Keys are stored only
as a keyed hash (an address or an email address never lands in the database), and events
older than their window are pruned.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite
from starlette.datastructures import Secret

from webapp.db import Database, parse_utc, utc_now_iso

# Events older than this are deleted whatever their limit's window (the longest in use).
KEEP = timedelta(days=1)
# A key's events in its window, counted only up to the limit: whether it is reached is all a
# check needs, and a busy key (a flood, or a generous limit) costs no more than a quiet one.
COUNT_UP_TO_LIMIT = (
    "SELECT count(*) FROM (SELECT 1 FROM rate_events"
    " WHERE bucket = ? AND key = ? AND at > ? LIMIT ?)"
)


@dataclass(frozen=True)
class Limit:
    """At most `limit` events per key within `window`, under the name `bucket`."""

    bucket: str
    limit: int
    window: timedelta


class Throttle:
    """Sliding-window limits over the `rate_events` table."""

    def __init__(self, db: Database, key: Secret) -> None:
        self.db = db
        self._key = str(key).encode()

    def digest(self, limit: Limit, key: str) -> str:
        """The stored form of a key: a keyed hash, so the table holds no address or name."""
        message = f"{limit.bucket}\x00{key}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    async def reserve(
        self, conn: aiosqlite.Connection, limit: Limit, key: str, now: datetime
    ) -> int | None:
        """Inside a write transaction: record an event and return its id, or None (nothing
        recorded) when the key already has `limit` events in the window."""
        found = await self.reserve_all(conn, [(limit, key)], now)
        return None if isinstance(found, Limit) else found[0]

    async def counts(
        self, conn: aiosqlite.Connection, wanted: Sequence[tuple[Limit, str]], now: datetime
    ) -> list[int]:
        """Each (limit, key)'s events in its window, counted up to its limit, in one
        statement: a request that meets several limits reads them in one step."""
        if not wanted:
            return []
        sql = "SELECT " + ", ".join([f"({COUNT_UP_TO_LIMIT})"] * len(wanted))
        parameters: list[object] = []
        for limit, key in wanted:
            since = utc_now_iso(now - limit.window)
            parameters += (limit.bucket, self.digest(limit, key), since, limit.limit)
        async with conn.execute(sql, parameters) as cursor:
            row = await cursor.fetchone()
        assert row is not None  # a SELECT of counts has one row
        return [int(value) for value in row]

    async def record(
        self, conn: aiosqlite.Connection, wanted: Sequence[tuple[Limit, str]], now: datetime
    ) -> list[int]:
        """Inside a write transaction: one event under each (limit, key), in one statement;
        returns their ids in the same order."""
        if not wanted:
            return []
        at = utc_now_iso(now)
        sql = (
            "INSERT INTO rate_events (bucket, key, at) VALUES "  # noqa: S608 (placeholders only)
            + ", ".join(["(?, ?, ?)"] * len(wanted))
            + " RETURNING id"
        )
        parameters: list[object] = []
        for limit, key in wanted:
            parameters += (limit.bucket, self.digest(limit, key), at)
        async with conn.execute(sql, parameters) as cursor:
            rows = await cursor.fetchall()
        # RETURNING gives the rows in no promised order; ids rise in the order inserted.
        return sorted(int(row[0]) for row in rows)

    async def reserve_all(
        self, conn: aiosqlite.Connection, wanted: Sequence[tuple[Limit, str]], now: datetime
    ) -> list[int] | Limit:
        """Inside a write transaction: one event under each (limit, key), or none at all.

        Returns the events' ids, or the first limit that is already full (nothing recorded).
        """
        for (limit, _), count in zip(wanted, await self.counts(conn, wanted, now), strict=True):
            if count >= limit.limit:
                return limit
        return await self.record(conn, wanted, now)

    async def release_all(self, conn: aiosqlite.Connection, event_ids: Sequence[int]) -> None:
        """Inside a write transaction: take back several events."""
        for event_id in event_ids:
            await self.release(conn, event_id)

    async def release(self, conn: aiosqlite.Connection, event_id: int) -> None:
        """Inside a write transaction: take back an event (e.g. the sign-in succeeded)."""
        await conn.execute("DELETE FROM rate_events WHERE id = ?", (event_id,))

    async def retry_after(
        self, limit: Limit, key: str, now: datetime, conn: aiosqlite.Connection | None = None
    ) -> int:
        """Whole seconds until key may act again (0 when it may now); `conn` reads inside a
        write transaction instead of on the reader."""
        sql = (
            "SELECT at FROM rate_events WHERE bucket = ? AND key = ? AND at > ?"
            " ORDER BY at DESC LIMIT ?"
        )
        params = (
            limit.bucket,
            self.digest(limit, key),
            utc_now_iso(now - limit.window),
            limit.limit,
        )
        rows = list(
            await conn.execute_fetchall(sql, params)
            if conn is not None
            else await self.db.fetchall(sql, params)
        )
        if len(rows) < limit.limit:
            return 0
        oldest = parse_utc(rows[-1][0])
        return max(1, math.ceil((oldest + limit.window - now).total_seconds()))

    async def count(self, limit: Limit, key: str, now: datetime) -> int:
        """Events for key within the window."""
        row = await self.db.fetchone(
            "SELECT count(*) FROM rate_events WHERE bucket = ? AND key = ? AND at > ?",
            (limit.bucket, self.digest(limit, key), utc_now_iso(now - limit.window)),
        )
        return int(row[0]) if row else 0


async def prune(conn: aiosqlite.Connection, now: datetime) -> int:
    """Inside a write transaction: delete events older than KEEP; returns how many."""
    cursor = await conn.execute("DELETE FROM rate_events WHERE at < ?", (utc_now_iso(now - KEEP),))
    return cursor.rowcount
