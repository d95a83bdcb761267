"""Background jobs: when each is due (a pure rule) and runs claimed once, by the app's clock."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import pytest

from tests.conftest import ET, FakeClock
from webapp.jobs import Job, Jobs, is_due

pytestmark = pytest.mark.anyio


async def nothing(now: datetime) -> str:
    return "done"


DAILY = Job("daily", nothing, daily_at=time(3, 0))
HOURLY = Job("hourly", nothing, every=timedelta(hours=1))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=ET)


@pytest.mark.parametrize(
    ("now", "last_day", "due"),
    [
        (at(2026, 12, 1, 2, 59), None, True),  # never run: at once
        (at(2026, 12, 1, 2, 59), date(2026, 11, 30), False),  # yesterday's ran; not 3 AM yet
        (at(2026, 12, 1, 3, 0), date(2026, 11, 30), True),  # 3 AM: today's is due
        (at(2026, 12, 1, 23, 59), date(2026, 11, 30), True),  # still due late in the day
        (at(2026, 12, 1, 3, 0), date(2026, 12, 1), False),  # ran today
        (at(2026, 12, 1, 1, 0), date(2026, 11, 29), True),  # a day was missed: catch up now
        # DST: the 3 AM run on the spring-forward and fall-back days, once each.
        (at(2026, 3, 8, 3, 30), date(2026, 3, 7), True),
        (at(2026, 11, 1, 1, 30), date(2026, 10, 31), False),
        (at(2026, 11, 1, 3, 0), date(2026, 10, 31), True),
    ],
)
def test_a_daily_job_is_due_once_per_local_day(now, last_day, due):
    assert is_due(DAILY, now, ET, last_day, None, None) is due


def test_a_periodic_job_is_due_every_interval_and_after_the_clock_goes_back():
    now = at(2026, 12, 1, 12, 0)
    assert is_due(HOURLY, now, ET, None, None, None)
    assert not is_due(HOURLY, now, ET, None, now - timedelta(minutes=59), None)
    assert is_due(HOURLY, now, ET, None, now - timedelta(hours=1), None)
    assert is_due(HOURLY, now, ET, None, now + timedelta(minutes=5), None)  # clock set back


def test_a_failed_job_waits_for_its_retry_time():
    now = at(2026, 12, 1, 12, 0)
    assert not is_due(HOURLY, now, ET, None, None, now + timedelta(minutes=1))
    assert is_due(HOURLY, now, ET, None, None, now)


def test_a_job_is_daily_or_periodic():
    with pytest.raises(ValueError):
        Job("both", nothing, daily_at=time(3), every=timedelta(hours=1))
    with pytest.raises(ValueError):
        Job("neither", nothing)


async def test_a_daily_job_runs_once_a_day_and_catches_up_after_downtime(database):
    clock = FakeClock(at(2026, 12, 1, 2, 0))
    runs: list[datetime] = []

    async def record(now: datetime) -> str:
        runs.append(now)
        return f"run {len(runs)}"

    jobs = Jobs(database, clock, ET)
    jobs.add(Job("retention", record, daily_at=time(3, 0)))
    # First start: runs at once (it never ran), then not again that day.
    assert [o.summary for o in await jobs.tick()] == ["run 1"]
    clock.set(at(2026, 12, 1, 3, 30))
    assert await jobs.tick() == []
    # Every minute of the next night: exactly one run, at 3:00.
    clock.set(at(2026, 12, 2, 0, 0))
    for _ in range(24 * 60):
        await jobs.tick()
        clock.advance(minutes=1)
    assert runs[1:] == [at(2026, 12, 2, 3, 0)]
    # Down from Dec 3 at noon to Dec 6 at 1 AM: it runs at start-up, before 3 AM.
    clock.set(at(2026, 12, 6, 1, 0))
    assert len(await jobs.tick()) == 1
    clock.set(at(2026, 12, 6, 3, 0))
    assert await jobs.tick() == []
    assert len(runs) == 3


async def test_a_failing_job_is_retried_and_does_not_stop_the_others(database):
    clock = FakeClock(at(2026, 12, 1, 4, 0))
    attempts = []

    async def flaky(now: datetime) -> str:
        attempts.append(now)
        if len(attempts) == 1:
            raise OSError("disk full")
        return "ok"

    jobs = Jobs(database, clock, ET)
    jobs.add(Job("backup", flaky, daily_at=time(3, 0), retry_after=timedelta(minutes=10)))
    jobs.add(Job("hourly", nothing, every=timedelta(hours=1)))
    outcomes = await jobs.tick()
    assert [(o.name, o.ok, o.summary) for o in outcomes] == [
        ("backup", False, "failed: OSError"),
        ("hourly", True, "done"),
    ]
    clock.advance(minutes=9)
    assert await jobs.tick() == []
    clock.advance(minutes=1)
    assert [(o.name, o.ok) for o in await jobs.tick()] == [("backup", True)]
    clock.advance(hours=2)
    assert [o.name for o in await jobs.tick()] == ["hourly"]


async def test_two_processes_ticking_at_once_run_each_job_once(database, settings):
    """Workers share the database: each due run is claimed by one of them."""
    from webapp.db import Database

    other = Database(settings.database_path)
    await other.open()
    try:
        clock = FakeClock(at(2026, 12, 1, 4, 0))
        runs = []

        async def record(now: datetime) -> str:
            runs.append(now)
            await asyncio.sleep(0)
            return "ran"

        workers = []
        for db in (database, other, database, other):
            jobs = Jobs(db, clock, ET)
            jobs.add(Job("retention", record, daily_at=time(3, 0)))
            workers.append(jobs)
        await asyncio.gather(*(jobs.tick() for jobs in workers))
        assert len(runs) == 1
    finally:
        await other.close()
