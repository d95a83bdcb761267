"""The outbox: mail written in the same transaction as what it is about, sent later.

A request's staff mails and its acknowledgement are inserted with the request itself (and an
invitation's mail with the invitation), so a mail exists exactly when its reason does. The
sender (webapp/mail.py) claims due rows in a write transaction with a lease, so with several
worker processes each row is tried by one at a time; it retries at least once a minute for
ten minutes, then less often, and gives up after a day. Each row has its own Message-ID, the
same on every try, so a mail sent twice (a crash between sending and recording it) is one
message to the receiving side.

Personal data is kept only while it is needed: a visitor's address is blanked once their
acknowledgement is sent or given up, an invitation's link once it is sent, and finished rows
are deleted after 30 days (and with their request, ON DELETE CASCADE).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from webapp.db import Database, parse_utc, utc_now_iso
from webapp.mailtext import Mail

KINDS = {
    "new_request": "New-request email",
    "acknowledgement": "Acknowledgement to the visitor",
    "digest": "Daily digest",
    "invitation": "Invitation",
    "test": "Test email",
}
STATES = {"queued": "Queued", "sent": "Sent", "failed": "Not delivered", "cancelled": "Cancelled"}
FAST_FOR = timedelta(minutes=10)  # retried every minute this long
FAST_EVERY = timedelta(minutes=1)
SLOW_EVERY_MAX = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=1)
LEASE = timedelta(minutes=10)  # a claimed row is left alone this long (a batch's worst case)
BATCH = 10
KEEP_FINISHED = timedelta(days=30)
NOT_CONFIGURED = "mail is not configured on this server (SMTP_HOST is not set)"
MAX_ERROR = 300
_ADDRESS = re.compile(r"[^\s<>\"',;:()]+@[^\s<>\"',;:()]+")


@dataclass(frozen=True)
class Outgoing:
    """One mail to put in the outbox."""

    kind: str
    dedupe_key: str  # one row per key: a repeat is ignored
    recipient: str
    mail: Mail
    consultation_id: int | None = None
    staff_id: int | None = None


@dataclass(frozen=True)
class Claimed:
    """A row this process may try to send now (until its lease ends)."""

    id: int
    kind: str
    recipient: str
    subject: str
    body: str
    message_token: str
    created_at: datetime
    attempts: int


@dataclass(frozen=True)
class Delivery:
    """One mail's state, as staff see it on a request's page."""

    kind: str
    label: str
    to_staff: str  # the staff member's address, or "" for the visitor
    state: str
    state_label: str
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Health:
    """Whether mail gets out: waiting and failing counts, the latest error."""

    configured: bool
    queued: int
    failing: int  # queued rows whose last try failed, and rows given up in the past day
    last_error: str
    last_error_at: datetime | None

    @property
    def problem(self) -> bool:
        """Staff should be told (a banner)."""
        return not self.configured or self.failing > 0


def retry_delay(age: timedelta) -> timedelta:
    """How long after a failed try the next one comes, by the mail's age (pure): every minute
    for the first ten minutes, then a quarter of its age (2 minutes growing to an hour)."""
    if age < FAST_FOR:
        return FAST_EVERY
    return max(timedelta(minutes=2), min(SLOW_EVERY_MAX, age / 4))


def next_try(created: datetime, now: datetime) -> datetime | None:
    """When to try again after a failure at `now`, or None: a day has passed, give up."""
    at = now + retry_delay(now - created)
    if now >= created + GIVE_UP_AFTER:
        return None
    return min(at, created + GIVE_UP_AFTER)


def clean_error(text: str) -> str:
    """An error as staff and logs may see it: one line, no email addresses, short."""
    one_line = " ".join(_ADDRESS.sub("[address]", text).split())
    return one_line[:MAX_ERROR] or "unknown error"


async def enqueue(conn: aiosqlite.Connection, item: Outgoing, now: datetime) -> bool:
    """Inside the caller's write transaction: add a mail (False: its key was queued before)."""
    if item.kind not in KINDS:
        raise ValueError(f"unknown mail kind {item.kind!r}")
    stamp = utc_now_iso(now)
    cursor = await conn.execute(
        "INSERT INTO outbox (kind, dedupe_key, consultation_id, staff_id, recipient, subject,"
        " body, message_id, created_at, next_attempt_at, give_up_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
        (
            item.kind, item.dedupe_key, item.consultation_id, item.staff_id, item.recipient,
            item.mail.subject, item.mail.body, message_token(now), stamp, stamp,
            utc_now_iso(now + GIVE_UP_AFTER),
        ),
    )  # fmt: skip
    return cursor.rowcount == 1


def message_token(now: datetime) -> str:
    """The unique left part of a Message-ID (the right part is MAIL_FROM's domain)."""
    return f"{now:%Y%m%d%H%M%S}.{secrets.token_hex(10)}"


def message_id(token: str, mail_from_domain: str) -> str:
    """The Message-ID header of a row: the same on every try."""
    return f"<{token}@{mail_from_domain}>"


# What a finished row keeps: no visitor address once the acknowledgement is done, no
# invitation link once it is sent.
_FINISH = (
    " recipient = CASE WHEN kind = 'acknowledgement' THEN '' ELSE recipient END,"
    " body = CASE WHEN kind = 'invitation' THEN '' ELSE body END,"
    " lease_until = NULL"
)


async def _give_up_late(conn: aiosqlite.Connection, now: datetime, configured: bool) -> int:
    """Rows past their day: not delivered (why: the last error, or no mail set up)."""
    cursor = await conn.execute(
        "UPDATE outbox SET state = 'failed', finished_at = ?,"  # noqa: S608 (constant)
        f" last_error = CASE WHEN last_error = '' THEN ? ELSE last_error END,{_FINISH}"
        " WHERE state = 'queued' AND give_up_at <= ? AND (lease_until IS NULL OR lease_until <= ?)",
        (
            utc_now_iso(now),
            "not sent within a day" if configured else NOT_CONFIGURED,
            utc_now_iso(now),
            utc_now_iso(now),
        ),
    )
    return cursor.rowcount


async def _cancel_unwanted(conn: aiosqlite.Connection, now: datetime) -> None:
    """Staff mail for someone disabled since, or who turned new-request mail off."""
    await conn.execute(
        "UPDATE outbox SET state = 'cancelled', finished_at = ?, lease_until = NULL"
        " WHERE state = 'queued' AND kind IN ('new_request', 'digest') AND staff_id IN"
        " (SELECT id FROM staff WHERE active = 0 OR request_mail = 'off')",
        (utc_now_iso(now),),
    )


async def anything_due(db: Database, now: datetime) -> bool:
    """Whether a row may be claimed now (a read: the claim itself is a write)."""
    stamp = utc_now_iso(now)
    row = await db.fetchone(
        "SELECT 1 FROM outbox WHERE state = 'queued' AND next_attempt_at <= ? AND give_up_at > ?"
        " AND (lease_until IS NULL OR lease_until <= ?) LIMIT 1",
        (stamp, stamp, stamp),
    )
    return row is not None


async def anything_late(db: Database, now: datetime) -> bool:
    """Whether a queued row is past its day, or waits for someone who no longer wants it."""
    row = await db.fetchone(
        "SELECT 1 FROM outbox WHERE state = 'queued' AND (give_up_at <= ? OR ("
        " kind IN ('new_request', 'digest') AND staff_id IN"
        " (SELECT id FROM staff WHERE active = 0 OR request_mail = 'off'))) LIMIT 1",
        (utc_now_iso(now),),
    )
    return row is not None


async def tidy(db: Database, now: datetime, *, configured: bool) -> int:
    """Give up rows past their day and cancel unwanted staff mail; how many were given up."""

    async def work(conn: aiosqlite.Connection) -> int:
        await _cancel_unwanted(conn, now)
        return await _give_up_late(conn, now, configured)

    return await db.write(work)


async def claim(
    db: Database, now: datetime, limit: int = BATCH, lease: timedelta = LEASE
) -> list[Claimed]:
    """Take up to `limit` due rows for this process until `now + lease` (one transaction, so
    two workers never take the same row); each claim counts as a try."""
    stamp = utc_now_iso(now)

    async def work(conn: aiosqlite.Connection) -> list[Claimed]:
        await _cancel_unwanted(conn, now)
        async with conn.execute(
            "UPDATE outbox SET lease_until = ?, attempts = attempts + 1, last_attempt_at = ?"
            " WHERE id IN (SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?"
            " AND give_up_at > ? AND (lease_until IS NULL OR lease_until <= ?)"
            " ORDER BY next_attempt_at, id LIMIT ?)"
            " RETURNING id, kind, recipient, subject, body, message_id, created_at, attempts",
            (utc_now_iso(now + lease), stamp, stamp, stamp, stamp, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return sorted(
            (Claimed(r[0], r[1], r[2], r[3], r[4], r[5], parse_utc(r[6]), r[7]) for r in rows),
            key=lambda c: c.id,
        )

    return await db.write(work)


async def mark_sent(db: Database, row_id: int, now: datetime) -> None:
    """The server accepted the mail."""

    async def work(conn: aiosqlite.Connection) -> None:
        # What a finished row drops (an address, a live link) is overwritten, not left in
        # the page's free space.
        await conn.execute("PRAGMA secure_delete = ON")
        await conn.execute(
            f"UPDATE outbox SET state = 'sent', finished_at = ?, last_error = '',{_FINISH}"  # noqa: S608
            " WHERE id = ? AND state = 'queued'",
            (utc_now_iso(now), row_id),
        )

    await db.write(work)


async def mark_failed(
    db: Database, row_id: int, now: datetime, error: str, *, permanent: bool = False
) -> datetime | None:
    """A try failed: the next try's time, or None when this was the last (given up, or the
    server refused the mail for good)."""
    error = clean_error(error)

    async def work(conn: aiosqlite.Connection) -> datetime | None:
        async with conn.execute(
            "SELECT created_at FROM outbox WHERE id = ? AND state = 'queued'", (row_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        again = None if permanent else next_try(parse_utc(row[0]), now)
        if again is None:
            await conn.execute(
                f"UPDATE outbox SET state = 'failed', finished_at = ?, last_error = ?,{_FINISH}"  # noqa: S608
                " WHERE id = ?",
                (utc_now_iso(now), error, row_id),
            )
        else:
            await conn.execute(
                "UPDATE outbox SET next_attempt_at = ?, last_error = ?, lease_until = NULL"
                " WHERE id = ?",
                (utc_now_iso(again), error, row_id),
            )
        return again

    return await db.write(work)


async def release(db: Database, ids: Sequence[int]) -> None:
    """Give claimed rows back untried (sending was not possible: no mail server set up)."""

    async def work(conn: aiosqlite.Connection) -> None:
        await conn.executemany(
            "UPDATE outbox SET lease_until = NULL, attempts = max(0, attempts - 1) WHERE id = ?",
            [(i,) for i in ids],
        )

    await db.write(work)


def _when(text: str | None) -> datetime | None:
    return parse_utc(text) if text else None


async def for_request(db: Database, consultation_id: int) -> list[Delivery]:
    """The mails about one request, staff mail first."""
    rows = await db.fetchall(
        "SELECT o.kind, coalesce(s.email, '') AS to_staff, o.state, o.attempts, o.last_error,"
        " o.next_attempt_at, o.finished_at FROM outbox o LEFT JOIN staff s ON s.id = o.staff_id"
        " WHERE o.consultation_id = ? ORDER BY o.kind = 'acknowledgement', s.email, o.id",
        (consultation_id,),
    )
    return [
        Delivery(
            r["kind"],
            KINDS[r["kind"]],
            r["to_staff"],
            r["state"],
            STATES[r["state"]],
            r["attempts"],
            r["last_error"],
            _when(r["next_attempt_at"]) if r["state"] == "queued" else None,
            _when(r["finished_at"]),
        )  # fmt: skip
        for r in rows
    ]


async def health(db: Database, now: datetime, *, configured: bool) -> Health:
    """Counts for the staff's banner (two index lookups)."""
    since = utc_now_iso(now - GIVE_UP_AFTER)
    row = await db.fetchone(
        "SELECT"
        " (SELECT count(*) FROM outbox WHERE state = 'queued') AS queued,"
        " (SELECT count(*) FROM outbox WHERE state = 'queued' AND last_error <> '')"
        "  + (SELECT count(*) FROM outbox WHERE finished_at > ? AND state = 'failed')"
        "  AS failing",
        (since,),
    )
    last: Any = await db.fetchone(
        "SELECT last_error, last_attempt_at FROM outbox WHERE last_error <> ''"
        " AND (state = 'queued' OR (state = 'failed' AND finished_at > ?))"
        " ORDER BY last_attempt_at DESC LIMIT 1",
        (since,),
    )
    return Health(
        configured,
        int(row["queued"]) if row else 0,
        int(row["failing"]) if row else 0,
        last["last_error"] if last else "",
        _when(last["last_attempt_at"]) if last else None,
    )


async def prune(db: Database, now: datetime, keep: timedelta = KEEP_FINISHED) -> int:
    """Delete rows finished more than `keep` ago."""

    async def work(conn: aiosqlite.Connection) -> int:
        cursor = await conn.execute(
            "DELETE FROM outbox WHERE finished_at IS NOT NULL AND finished_at < ?",
            (utc_now_iso(now - keep),),
        )
        return cursor.rowcount

    return await db.write(work)


async def cancel(conn: aiosqlite.Connection, dedupe_key: str, now: datetime) -> None:
    """Inside the caller's transaction: a queued mail no longer wanted (a withdrawn invitation)."""
    await conn.execute(
        "UPDATE outbox SET state = 'cancelled', finished_at = ?, body = '', lease_until = NULL"
        " WHERE dedupe_key = ? AND state = 'queued'",
        (utc_now_iso(now), dedupe_key),
    )
