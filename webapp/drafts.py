"""What a visitor without JavaScript typed, kept a few minutes so an error page can be a GET.

A form posted without JavaScript that cannot be stored (errors, an expired or unverifiable form,
a rate limit) is answered with a 303 to `/consultation/details/<id>` (Post/Redirect/Get): Back
and reload then never ask to resend a form. The id is random and says nothing about the visitor;
the values live only in the `form_drafts` table, are read only until they expire (TTL), are
deleted once the request is sent, and are purged by the drafts job. They are never logged.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite
import anyio

from webapp.db import Database, checkpoint, parse_utc, utc_now_iso
from webapp.jobs import Job

TTL = timedelta(minutes=10)
NOTICES = frozenset({"expired", "invalid", "rate"})
# Longer than any field the form accepts, so what was typed comes back whole; a cap all the same.
MAX_VALUE = 4000
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass(frozen=True)
class Draft:
    """The typed values of one form, why it came back, and (rate limited) when to try again."""

    values: dict[str, str]
    notice: str | None
    retry_at: datetime | None


def new_id() -> str:
    """A random id: 192 bits, URL-safe, never derived from anything the visitor typed."""
    return secrets.token_urlsafe(24)


def is_id(text: str) -> bool:
    """Whether `text` could be a draft id (anything else is not looked up)."""
    return bool(ID_PATTERN.match(text))


async def save(
    db: Database,
    values: Mapping[str, str],
    keep: Iterable[str],
    now: datetime,
    notice: str | None = None,
    retry_at: datetime | None = None,
    admit: Callable[[aiosqlite.Connection], Awaitable[bool]] | None = None,
) -> str | None:
    """Keep the fields named in `keep` for TTL; returns the draft's id.

    `admit` (a rate limit) runs in the same transaction; when it refuses, nothing is kept and
    the answer is None (the caller then shows the form without a redirect).
    """
    if notice is not None and notice not in NOTICES:
        raise ValueError(f"unknown notice {notice!r}")
    fields = {name: values[name][:MAX_VALUE] for name in keep if name in values}
    draft_id = new_id()

    async def work(conn: aiosqlite.Connection) -> bool:
        if admit is not None and not await admit(conn):
            return False
        await conn.execute(
            "INSERT INTO form_drafts (id, fields, notice, retry_at, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                draft_id,
                json.dumps(fields, ensure_ascii=False),
                notice,
                utc_now_iso(retry_at) if retry_at is not None else None,
                utc_now_iso(now),
                # A rate-limited visitor may wait it out: kept TTL past the time to retry.
                utc_now_iso(max(now, retry_at or now) + TTL),
            ),
        )
        return True

    return draft_id if await db.write(work) else None


async def load(db: Database, draft_id: str, now: datetime) -> Draft | None:
    """The draft if it exists and has not expired (an expired one is never shown)."""
    if not is_id(draft_id):
        return None
    row = await db.fetchone(
        "SELECT fields, notice, retry_at FROM form_drafts WHERE id = ? AND expires_at > ?",
        (draft_id, utc_now_iso(now)),
    )
    if row is None:
        return None
    loaded = json.loads(row["fields"])
    values = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    retry_at = parse_utc(row["retry_at"]) if row["retry_at"] else None
    return Draft(values, row["notice"], retry_at)


async def discard(db: Database, draft_id: str) -> None:
    """Forget a draft at once (its request has been sent, or a newer draft replaces it).

    Its text is blanked and it is marked expired, so it is never shown again and the purge
    job deletes it on its next run and then empties the write-ahead log: the typed text
    leaves the log as surely as an expired draft's (a plain DELETE here would leave it there
    until some later checkpoint, up to a day).
    """
    if not is_id(draft_id):
        return

    async def work(conn: aiosqlite.Connection) -> None:
        await conn.execute("PRAGMA secure_delete = ON")
        await conn.execute(
            "UPDATE form_drafts SET fields = '{}', notice = NULL, retry_at = NULL,"
            " expires_at = created_at WHERE id = ?",
            (draft_id,),
        )

    await db.write(work)


async def purge(db: Database, now: datetime) -> int:
    """Delete every expired draft; returns how many."""

    async def work(conn: aiosqlite.Connection) -> int:
        # Freed pages are zeroed, so the typed text does not linger in the file.
        await conn.execute("PRAGMA secure_delete = ON")
        cursor = await conn.execute(
            "DELETE FROM form_drafts WHERE expires_at <= ?", (utc_now_iso(now),)
        )
        return cursor.rowcount

    return await db.write(work)


def job(db: Database) -> Job:
    """Purge expired drafts every 5 minutes: none outlives its TTL by more than that, in the
    database file or its write-ahead log."""

    async def run(now: datetime) -> str:
        deleted = await purge(db, now)
        if deleted:
            await anyio.to_thread.run_sync(checkpoint, db.path)
        return f"{deleted} expired form drafts deleted"

    return Job("form-drafts", run, every=timedelta(minutes=5))
