"""The retention rule, run by itself: one daily job (and `python -m webapp purge`) deletes what
the privacy notice says is kept no longer.

- requests closed (or found not a fit) more than RETENTION_DAYS ago, with their notes;
- suspected spam that staff left unmoved for 30 days;
- expired staff sessions, spent invitations (used, withdrawn or expired), expired form
  drafts, and the ids of form tokens whose requests were deleted, once no token of their
  time can be sent (SPENT_TOKEN_KEEP);
- databases a restore put aside (`<database>.replaced-<time>`) once as old as the oldest
  backup kept (BACKUP_KEEP days): they hold what was erased or is past its time, like a backup.

Every cut-off comes from the app's clock. Each run writes one audit entry and one log line of
counts (never whose), rewrites the full-text index and empties the write-ahead log, so what
was deleted is gone from the database files too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import aiosqlite
import anyio

from webapp import audit, backups
from webapp.auth import ABSOLUTE_LIMIT, IDLE_LIMIT
from webapp.db import Database, checkpoint, utc_now_iso
from webapp.jobs import Job
from webapp.privacy import forget_traces, scrub_index
from webapp.spam import KEEP as SPAM_KEEP

# A quiet hour in the clinic's time zone (daily jobs also run at start-up when overdue),
# before the daily backup (03:15 by default), so that backup no longer holds what is due.
DAILY_AT = time(3, 0)
# Longer than any form token lives (Settings.form_max_age_seconds, 24 hours).
SPENT_TOKEN_KEEP = timedelta(days=2)


@dataclass(frozen=True)
class Swept:
    """How many of each kind one run deleted."""

    closed: int = 0
    spam: int = 0
    sessions: int = 0
    invitations: int = 0
    drafts: int = 0
    replaced: int = 0  # databases a restore put aside

    @property
    def requests(self) -> int:
        """Consultation requests deleted (closed ones and suspected spam)."""
        return self.closed + self.spam

    def summary(self, days: int) -> str:
        """The run's one line: counts only."""
        return (
            f"deleted {self.closed} requests closed over {days} days ago,"
            f" {self.spam} suspected spam over {SPAM_KEEP.days} days old,"
            f" {self.sessions} expired sessions, {self.invitations} spent invitations,"
            f" {self.drafts} expired form drafts"
        ) + (f", {self.replaced} replaced database copies" if self.replaced else "")


async def sweep(db: Database, now: datetime, days: int, replaced: int = 0) -> Swept:
    """Delete everything past its time in one transaction, with one audit entry (which also
    counts the `replaced` database copies the run deleted before)."""
    closed_before = utc_now_iso(now - timedelta(days=days))
    spam_before = utc_now_iso(now - SPAM_KEEP)
    stamp = utc_now_iso(now)

    async def delete(conn: aiosqlite.Connection, sql: str, *params: str) -> int:
        cursor = await conn.execute(sql, params)
        return max(cursor.rowcount, 0)

    async def work(conn: aiosqlite.Connection) -> Swept:
        swept = Swept(
            closed=await delete(
                conn,
                "DELETE FROM consultations WHERE closed_at IS NOT NULL AND closed_at < ?",
                closed_before,
            ),
            spam=await delete(
                conn,
                "DELETE FROM consultations WHERE suspected_spam IS NOT NULL AND created_at < ?",
                spam_before,
            ),
            sessions=await delete(
                conn,
                "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?",
                utc_now_iso(now - IDLE_LIMIT),
                utc_now_iso(now - ABSOLUTE_LIMIT),
            ),
            invitations=await delete(
                conn,
                "DELETE FROM invitations WHERE used_at IS NOT NULL OR revoked_at IS NOT NULL"
                " OR expires_at <= ?",
                stamp,
            ),
            drafts=await delete(conn, "DELETE FROM form_drafts WHERE expires_at <= ?", stamp),
            replaced=replaced,
        )
        # What a deleted request left so its form is not stored twice (migration 0011), once
        # no form token of its time can still be sent.
        await delete(
            conn,
            "DELETE FROM spent_form_tokens WHERE created_at < ?",
            utc_now_iso(now - SPENT_TOKEN_KEEP),
        )
        if swept.requests:
            await scrub_index(conn)
        await audit.record(
            conn,
            now,
            "system",
            "retention",
            detail=f"{swept.closed} closed requests, {swept.spam} suspected spam,"
            f" {swept.sessions} sessions, {swept.invitations} invitations,"
            f" {swept.drafts} form drafts (kept {days} days after closing)"
            + (f", {replaced} replaced database copies" if replaced else ""),
        )
        return swept

    return await db.write(work)


async def run(
    db: Database, now: datetime, days: int, replaced_keep: timedelta | None = None
) -> Swept:
    """One retention run: delete, then empty the write-ahead log of what was deleted.
    With `replaced_keep`, databases a restore put aside longer ago go first."""
    replaced = 0
    if replaced_keep is not None:
        replaced = await anyio.to_thread.run_sync(
            backups.drop_replaced, db.path, now, replaced_keep
        )
    swept = await sweep(db, now, days, replaced)
    await forget_traces(db)
    return swept


def job(db: Database, days: int, replaced_keep: timedelta | None = None) -> Job:
    """The daily retention job (its log line is the run's summary)."""

    async def daily(now: datetime) -> str:
        return (await run(db, now, days, replaced_keep)).summary(days)

    return Job("retention", daily, daily_at=DAILY_AT)


# An erasure or a purge empties the write-ahead log at once. A reader holding an old snapshot
# for longer than it waits (an open shell, a long backup; in any process) keeps it from
# finishing, and the deleted text then stays in -wal: this finishes it soon after.
WAL_EVERY = timedelta(minutes=10)
# Writers wait while a checkpoint waits for readers: this one gives up quickly instead (it
# comes back in WAL_EVERY), so a long reader never holds up visitors' requests for long.
WAL_WAIT = 0.2


def wal_job(db: Database) -> Job:
    """Every WAL_EVERY: empty the write-ahead log (checkpoint TRUNCATE), so what was deleted
    while a reader held it up leaves the -wal file within minutes, not at the next night's
    run."""

    async def run(now: datetime) -> str:
        if await anyio.to_thread.run_sync(functools.partial(checkpoint, db.path, WAL_WAIT)):
            return "write-ahead log emptied"
        return "write-ahead log in use by a reader; tried again later"

    return Job("write-ahead-log", run, every=WAL_EVERY)
