"""Rate limits in the database: atomic under concurrency, shared, keys never stored as typed."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from starlette.datastructures import Secret

from webapp.throttle import Limit, Throttle, prune

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
FIVE = Limit("login", 5, timedelta(minutes=15))


async def reserve(throttle: Throttle, key: str, now: datetime = NOW) -> int | None:
    return await throttle.db.write(lambda conn: throttle.reserve(conn, FIVE, key, now))


async def test_two_hundred_at_once_reserve_exactly_the_limit(database):
    throttle = Throttle(database, Secret("k" * 40))
    results = await asyncio.gather(*(reserve(throttle, "203.0.113.9") for _ in range(200)))
    assert sum(r is not None for r in results) == 5
    assert await throttle.count(FIVE, "203.0.113.9", NOW) == 5
    assert await throttle.count(FIVE, "198.51.100.1", NOW) == 0


async def test_the_window_slides_by_the_given_instant(database):
    throttle = Throttle(database, Secret("k" * 40))
    for minute in range(5):
        assert await reserve(throttle, "a", NOW + timedelta(minutes=minute)) is not None
    assert await reserve(throttle, "a", NOW + timedelta(minutes=5)) is None
    assert await throttle.retry_after(FIVE, "a", NOW + timedelta(minutes=5)) == 10 * 60
    later = NOW + timedelta(minutes=15, seconds=1)
    assert await throttle.retry_after(FIVE, "a", later) == 0
    assert await reserve(throttle, "a", later) is not None


async def test_a_released_event_no_longer_counts(database):
    throttle = Throttle(database, Secret("k" * 40))
    event = await reserve(throttle, "a")
    assert event is not None
    await database.write(lambda conn: throttle.release(conn, event))
    assert await throttle.count(FIVE, "a", NOW) == 0


async def test_keys_are_stored_only_as_keyed_hashes(database, settings):
    throttle = Throttle(database, Secret("k" * 40))
    await reserve(throttle, "ada@example.org")
    with closing(sqlite3.connect(settings.database_path)) as conn:
        stored = [row[0] for row in conn.execute("SELECT key FROM rate_events")]
    assert stored and "ada" not in stored[0]
    other_secret = Throttle(database, Secret("z" * 40))
    assert other_secret.digest(FIVE, "ada@example.org") != stored[0]


async def test_old_events_are_pruned(database):
    throttle = Throttle(database, Secret("k" * 40))
    await reserve(throttle, "a", NOW - timedelta(days=2))
    await reserve(throttle, "a", NOW)
    assert await database.write(lambda conn: prune(conn, NOW)) == 1
