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


async def test_several_limits_are_read_and_recorded_in_one_step_each(database):
    throttle = Throttle(database, Secret("k" * 40))
    two = Limit("two", 2, timedelta(minutes=1))
    wanted = [(FIVE, "a"), (two, "a"), (FIVE, "b")]

    async def step(conn) -> tuple[list[int], list[int]]:
        return await throttle.counts(conn, wanted, NOW), await throttle.record(conn, wanted, NOW)

    first_counts, ids = await database.write(step)
    assert first_counts == [0, 0, 0]
    assert ids == sorted(ids) and len(set(ids)) == 3
    with closing(sqlite3.connect(throttle.db.path)) as conn:
        rows = conn.execute("SELECT id, bucket, key FROM rate_events ORDER BY id").fetchall()
    # Each id is the event of the (limit, key) in the same place.
    assert [(i, b, k) for i, b, k in rows] == [
        (ids[n], limit.bucket, throttle.digest(limit, key)) for n, (limit, key) in enumerate(wanted)
    ]
    for _ in range(3):
        await database.write(step)
    # Counted up to each limit only: whether it is reached is all a check needs.
    counts = await database.write(lambda conn: throttle.counts(conn, wanted, NOW))
    assert counts == [4, 2, 4]
    assert await database.write(lambda conn: throttle.counts(conn, [], NOW)) == []
    assert await database.write(lambda conn: throttle.record(conn, [], NOW)) == []


async def test_reserve_all_records_nothing_when_one_limit_is_full(database):
    throttle = Throttle(database, Secret("k" * 40))
    one = Limit("one", 1, timedelta(minutes=1))
    wanted = [(FIVE, "a"), (one, "a")]
    first = await database.write(lambda conn: throttle.reserve_all(conn, wanted, NOW))
    assert isinstance(first, list) and len(first) == 2
    again = await database.write(lambda conn: throttle.reserve_all(conn, wanted, NOW))
    assert again == one
    assert await throttle.count(FIVE, "a", NOW) == 1
