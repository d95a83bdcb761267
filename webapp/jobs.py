"""Background jobs in the one process: daily ones at a quiet local hour, periodic ones.

Each job's runs are claimed in the database (`job_runs`) in a write transaction, so with
several worker processes each run happens once. Everything is timed by the app's clock:
a test calls `tick()` at any instant it likes; only the polling loop sleeps in real time.

A daily job is due once per clinic-local date, from its time of day on; after downtime
that skipped a day it runs at the next tick (start-up included), whatever the hour. A
job that fails is tried again after `retry_after`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiosqlite
import anyio

from webapp.clock import Clock
from webapp.db import Database, parse_utc, utc_now_iso
from webapp.storage import StorageUnavailable

log = logging.getLogger(__name__)
POLL = timedelta(seconds=30)


@dataclass(frozen=True)
class Job:
    """What to run and when: `daily_at` (clinic-local time) or `every`."""

    name: str
    run: Callable[[datetime], Awaitable[str]]  # returns a one-line summary, nothing personal
    daily_at: time | None = None
    every: timedelta | None = None
    retry_after: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        """Exactly one of daily_at and every."""
        if (self.daily_at is None) == (self.every is None):
            raise ValueError(f"job {self.name}: give daily_at or every, not both or neither")


@dataclass(frozen=True)
class Outcome:
    """One run: the job's name, whether it worked, its summary (or the error's kind)."""

    name: str
    ok: bool
    summary: str


def is_due(
    job: Job,
    now: datetime,
    tz: ZoneInfo,
    last_day: date | None,
    last_started: datetime | None,
    not_before: datetime | None,
) -> bool:
    """Whether `job` should run at `now`, given what `job_runs` records (pure)."""
    if not_before is not None and now < not_before:
        return False
    if job.every is not None:
        # A clock set back (NTP) also makes it due, rather than never.
        return last_started is None or not timedelta(0) <= now - last_started < job.every
    assert job.daily_at is not None
    local = now.astimezone(tz)
    today = local.date()
    if last_day is None:
        return True
    if last_day >= today:
        return False
    missed = last_day < today - timedelta(days=1)
    return missed or local.time() >= job.daily_at


class Jobs:
    """The app's jobs; `tick()` runs those due, `run_forever()` ticks until cancelled."""

    def __init__(self, db: Database, clock: Clock, tz: ZoneInfo) -> None:
        self.db = db
        self.clock = clock
        self.tz = tz
        self.jobs: dict[str, Job] = {}

    def add(self, job: Job) -> None:
        """Register a job (names are unique)."""
        if job.name in self.jobs:
            raise ValueError(f"job {job.name} is already registered")
        self.jobs[job.name] = job

    async def _claim(self, job: Job, now: datetime) -> tuple[bool, str | None]:
        """Decide and record, in one transaction, that this process runs `job` now.

        Returns (claimed, the previous last_day) so a failed daily run can be put back."""

        async def work(conn: aiosqlite.Connection) -> tuple[bool, str | None]:
            async with conn.execute(
                "SELECT last_day, last_started_at, not_before FROM job_runs WHERE name = ?",
                (job.name,),
            ) as cursor:
                row = await cursor.fetchone()
            last_day = row[0] if row else None
            started = parse_utc(row[1]) if row and row[1] else None
            not_before = parse_utc(row[2]) if row and row[2] else None
            day = date.fromisoformat(last_day) if last_day else None
            if not is_due(job, now, self.tz, day, started, not_before):
                return False, last_day
            today = now.astimezone(self.tz).date().isoformat()
            await conn.execute(
                "INSERT INTO job_runs (name, last_day, last_started_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET last_day = excluded.last_day,"
                " last_started_at = excluded.last_started_at, not_before = NULL",
                (job.name, today if job.daily_at else None, utc_now_iso(now)),
            )
            return True, last_day

        return await self.db.write(work)

    async def _finish(
        self, job: Job, now: datetime, ok: bool, summary: str, previous_day: str | None
    ) -> None:
        async def work(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE job_runs SET last_finished_at = ?, last_ok = ?, last_summary = ?,"
                " not_before = ?, last_day = CASE WHEN ? THEN last_day ELSE ? END"
                " WHERE name = ?",
                (
                    utc_now_iso(now),
                    int(ok),
                    summary[:200],
                    None if ok else utc_now_iso(now + job.retry_after),
                    int(ok),
                    previous_day,
                    job.name,
                ),
            )

        await self.db.write(work)

    async def run(self, job: Job, now: datetime) -> Outcome:
        """Run one job now (claimed or not); log one line, never a traceback per tick."""
        try:
            summary = await job.run(now)
            ok = True
        except Exception as exc:  # a job's failure must not stop the others or the site
            summary = f"failed: {type(exc).__name__}"
            ok = False
        log.log(logging.INFO if ok else logging.WARNING, "job %s: %s", job.name, summary)
        return Outcome(job.name, ok, summary)

    async def tick(self) -> list[Outcome]:
        """Run every job that is due now and that this process claims."""
        outcomes = []
        for job in list(self.jobs.values()):
            now = self.clock()
            claimed, previous_day = await self._claim(job, now)
            if not claimed:
                continue
            outcome = await self.run(job, now)
            await self._finish(job, self.clock(), outcome.ok, outcome.summary, previous_day)
            outcomes.append(outcome)
        return outcomes

    async def run_forever(self, poll: timedelta = POLL) -> None:
        """Tick at start-up and then every `poll` (real time) until cancelled."""
        failing = False
        while True:
            try:
                await self.tick()
                failing = False
            except Exception as exc:  # the database may be unwritable for a while
                # A storage fault has had its one log line from the database already.
                if not failing and not isinstance(exc, StorageUnavailable):
                    log.warning("background jobs cannot run: %s", type(exc).__name__)
                failing = True
            await anyio.sleep(poll.total_seconds())
