"""Invitations: an admin invites an email address; the link is single-use and valid 72 hours.

Only the SHA-256 of the link's token is stored, so the link is shown once (to the admin, to
pass on; `message` builds the text a mail can carry). Accepting creates the account, uses
up the invitation and starts the new person's session in one transaction: two tabs posting
the same link at once create one account.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import aiosqlite

from webapp import audit, outbox
from webapp.accounts import Actor
from webapp.auth import Sessions, Staff, insert_staff
from webapp.db import Database, parse_utc, utc_now_iso
from webapp.hours import format_date, format_time

VALID_FOR = timedelta(hours=72)
PATH = "/staff/invitation"


class AlreadyAnAccount(Exception):
    """That email address already has an account."""


class InvitationUnusable(Exception):
    """The link is unknown, used, withdrawn or expired (one answer for all of them)."""


@dataclass(frozen=True)
class Invitation:
    """A pending invitation (never its token)."""

    id: int
    email: str
    invited_by: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Message:
    """What to send the invited person: a subject and a plain-text body."""

    subject: str
    body: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def link(base: str, token: str) -> str:
    """The invitation's address (the token in the query: access logs leave queries out)."""
    return f"{base.rstrip('/')}{PATH}?{urlencode({'token': token})}"


def message(clinic_name: str, invited_by: str, url: str, expires_local: datetime) -> Message:
    """The invitation as a mail would carry it (and as the admin can pass it on)."""
    # Written as every time on the site is (hours.format_time): "4:05 PM", "12:00 noon".
    when = f"{format_date(expires_local.date(), year=False)} at {format_time(expires_local.time())}"
    return Message(
        subject=f"Your staff account at {clinic_name}",
        body=(
            f"{invited_by} has invited you to the staff area of {clinic_name}'s website.\n\n"
            f"Choose your password here:\n{url}\n\n"
            f"The link works once and until {when} (Eastern Time). If it has expired, ask "
            f"{invited_by} for a new one. If you did not expect this, you can ignore it.\n"
        ),
    )


# Run in the invitation's transaction with its token (the outbox's mail, when mail is set up).
Then = Callable[[aiosqlite.Connection, "Invitation", str], Awaitable[None]]


def mail_key(invitation_id: int) -> str:
    """The outbox key of an invitation's mail."""
    return f"invitation:{invitation_id}"


async def create(
    db: Database, email: str, actor: Actor, now: datetime, then: Then | None = None
) -> tuple[Invitation, str]:
    """A new invitation (replacing any pending one for the address, whose mail is withdrawn)
    and its token; `then` runs in the same transaction."""
    token = secrets.token_urlsafe(32)
    expires = now + VALID_FOR

    async def work(conn: aiosqlite.Connection) -> Invitation:
        async with conn.execute("SELECT 1 FROM staff WHERE email = ?", (email,)) as cursor:
            if await cursor.fetchone() is not None:
                raise AlreadyAnAccount(email)
        async with conn.execute(
            "SELECT id FROM invitations WHERE email = ? AND used_at IS NULL AND revoked_at IS NULL",
            (email,),
        ) as cursor:
            for (replaced,) in await cursor.fetchall():
                await outbox.cancel(conn, mail_key(replaced), now)
        await conn.execute(
            "UPDATE invitations SET revoked_at = ? WHERE email = ? AND used_at IS NULL"
            " AND revoked_at IS NULL",
            (utc_now_iso(now), email),
        )
        cursor = await conn.execute(
            "INSERT INTO invitations (email, token_hash, invited_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (email, _hash(token), actor.staff_id, utc_now_iso(now), utc_now_iso(expires)),
        )
        await audit.record(
            conn, now, actor.name, "invitation_created", staff_id=actor.staff_id, detail=email
        )
        invitation = Invitation(int(cursor.lastrowid or 0), email, actor.name, now, expires)
        if then is not None:
            await then(conn, invitation, token)
        return invitation

    return await db.write(work), token


async def pending(db: Database, now: datetime) -> list[Invitation]:
    """Invitations not yet used, withdrawn or expired, newest first."""
    rows = await db.fetchall(
        "SELECT i.id, i.email, coalesce(s.email, 'command line') AS invited_by, i.created_at,"
        " i.expires_at FROM invitations i LEFT JOIN staff s ON s.id = i.invited_by"
        " WHERE i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?"
        " ORDER BY i.created_at DESC",
        (utc_now_iso(now),),
    )
    return [_invitation(r) for r in rows]


def _invitation(row: aiosqlite.Row) -> Invitation:
    return Invitation(
        row["id"],
        row["email"],
        row["invited_by"],
        parse_utc(row["created_at"]),
        parse_utc(row["expires_at"]),
    )


async def find(db: Database, token: str, now: datetime) -> Invitation:
    """The pending invitation a token opens; InvitationUnusable otherwise."""
    if not token or len(token) > 100:
        raise InvitationUnusable
    row = await db.fetchone(
        "SELECT i.id, i.email, coalesce(s.email, 'command line') AS invited_by, i.created_at,"
        " i.expires_at FROM invitations i LEFT JOIN staff s ON s.id = i.invited_by"
        " WHERE i.token_hash = ? AND i.used_at IS NULL AND i.revoked_at IS NULL"
        " AND i.expires_at > ?",
        (_hash(token), utc_now_iso(now)),
    )
    if row is None:
        raise InvitationUnusable
    return _invitation(row)


async def revoke(db: Database, invitation_id: int, actor: Actor, now: datetime) -> bool:
    """Withdraw a pending invitation; False if it was no longer pending."""

    async def work(conn: aiosqlite.Connection) -> bool:
        async with conn.execute(
            "SELECT email FROM invitations WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL",
            (invitation_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return False
        await conn.execute(
            "UPDATE invitations SET revoked_at = ? WHERE id = ?", (utc_now_iso(now), invitation_id)
        )
        await outbox.cancel(conn, mail_key(invitation_id), now)
        await audit.record(
            conn, now, actor.name, "invitation_revoked", staff_id=actor.staff_id, detail=row[0]
        )
        return True

    return await db.write(work)


async def accept(
    db: Database,
    sessions: Sessions,
    token: str,
    password_hash: str,
    now: datetime,
    device: str,
) -> tuple[Staff, str, str]:
    """Use the invitation: the account, its first session (cookie, csrf), both audited."""
    stamp = utc_now_iso(now)

    async def work(conn: aiosqlite.Connection) -> tuple[Staff, str, str]:
        async with conn.execute(
            "SELECT id, email, invited_by FROM invitations WHERE token_hash = ?"
            " AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
            (_hash(token), stamp),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise InvitationUnusable
        await conn.execute("UPDATE invitations SET used_at = ? WHERE id = ?", (stamp, row[0]))
        try:
            new_id = await insert_staff(
                conn, row[1], password_hash, stamp, admin=False, actor=row[1], now=now
            )
        except ValueError:
            raise AlreadyAnAccount(row[1]) from None
        staff = Staff(new_id, row[1], True)
        cookie, csrf = await sessions.create(conn, staff, now, device)
        return staff, cookie, csrf

    return await db.write(work)
