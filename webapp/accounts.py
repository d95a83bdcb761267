"""Staff accounts managed by people: roles, enabling and disabling, passwords, sessions.

Each change and its audit entry are one transaction. The last active admin can be neither
disabled nor demoted: the rule is checked inside that transaction (so two admins demoting
each other at once cannot both succeed), and a trigger in the database holds it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from webapp import audit
from webapp.auth import ROLES, STAFF_COLUMNS, Staff
from webapp.db import Database, parse_utc, utc_now_iso


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in member of staff, or the command line."""

    name: str
    staff_id: int | None = None

    @classmethod
    def of(cls, staff: Staff) -> Actor:
        """A signed-in member of staff."""
        return cls(staff.email, staff.id)


CLI = Actor("command line")


class AccountNotFound(Exception):
    """No account with that id or email."""


class LastAdmin(Exception):
    """The change would leave no active admin."""

    def __str__(self) -> str:
        return "the last active admin cannot be disabled or made staff; make another admin first"


@dataclass(frozen=True)
class Account:
    """One row of the accounts page."""

    staff: Staff
    created_at: datetime
    sessions: int
    last_seen_at: datetime | None


async def list_staff(db: Database) -> list[Staff]:
    """Every account, by email."""
    rows = await db.fetchall(f"SELECT {STAFF_COLUMNS} FROM staff st ORDER BY st.email")  # noqa: S608 (constant column list)
    return [Staff.from_row(r) for r in rows]


async def list_accounts(db: Database, now: datetime) -> list[Account]:
    """Every account with its live sessions, by email."""
    rows = await db.fetchall(
        f"SELECT {STAFF_COLUMNS}, st.created_at,"  # noqa: S608 (constant column list)
        " (SELECT count(*) FROM sessions s WHERE s.staff_id = st.id) AS sessions,"
        " (SELECT max(last_seen_at) FROM sessions s WHERE s.staff_id = st.id) AS last_seen"
        " FROM staff st ORDER BY st.email"
    )
    return [
        Account(
            Staff.from_row(r),
            parse_utc(r["created_at"]),
            r["sessions"],
            parse_utc(r["last_seen"]) if r["last_seen"] else None,
        )
        for r in rows
    ]


async def staff_id_for(db: Database, email: str) -> int:
    """An account's id by email (any case); AccountNotFound otherwise."""
    row = await db.fetchone("SELECT id FROM staff WHERE email = ?", (email.strip(),))
    if row is None:
        raise AccountNotFound(email)
    return int(row["id"])


async def _target(conn: aiosqlite.Connection, staff_id: int) -> Staff:
    async with conn.execute(
        f"SELECT {STAFF_COLUMNS} FROM staff st WHERE st.id = ?",  # noqa: S608 (constant column list)
        (staff_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise AccountNotFound(str(staff_id))
    return Staff.from_row(row)


async def _keep_an_admin(conn: aiosqlite.Connection, target: Staff) -> None:
    """Refuse (LastAdmin) a change that takes away the last active admin."""
    if not (target.is_admin and target.active):
        return
    async with conn.execute(
        "SELECT count(*) FROM staff WHERE role = 'admin' AND active = 1 AND id <> ?",
        (target.id,),
    ) as cursor:
        row = await cursor.fetchone()
    if not row or not row[0]:
        raise LastAdmin


async def _end_sessions(conn: aiosqlite.Connection, staff_id: int, keep: str = "") -> int:
    cursor = await conn.execute(
        "DELETE FROM sessions WHERE staff_id = ? AND id_hash <> ?", (staff_id, keep)
    )
    return cursor.rowcount


async def set_active(
    db: Database, staff_id: int, active: bool, actor: Actor, now: datetime
) -> Staff:
    """Enable or disable an account; disabling ends its sessions at once."""

    async def work(conn: aiosqlite.Connection) -> Staff:
        target = await _target(conn, staff_id)
        if target.active == active:
            return target
        if not active:
            await _keep_an_admin(conn, target)
            await _end_sessions(conn, staff_id)
        await conn.execute(
            "UPDATE staff SET active = ?, updated_at = ? WHERE id = ?",
            (int(active), utc_now_iso(now), staff_id),
        )
        action = "account_enabled" if active else "account_disabled"
        await audit.record(
            conn, now, actor.name, action, staff_id=actor.staff_id, detail=target.email
        )
        return target

    return await db.write(work)


async def set_role(db: Database, staff_id: int, role: str, actor: Actor, now: datetime) -> Staff:
    """Make an account admin or staff."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    async def work(conn: aiosqlite.Connection) -> Staff:
        target = await _target(conn, staff_id)
        if target.role == role:
            return target
        if role != "admin":
            await _keep_an_admin(conn, target)
        await conn.execute(
            "UPDATE staff SET role = ?, updated_at = ? WHERE id = ?",
            (role, utc_now_iso(now), staff_id),
        )
        await audit.record(
            conn,
            now,
            actor.name,
            "role_changed",
            staff_id=actor.staff_id,
            detail=f"{target.email}: {target.role} → {role}",
        )
        return target

    return await db.write(work)


async def end_sessions(
    db: Database, staff_id: int, actor: Actor, now: datetime, *, keep: str = ""
) -> int:
    """End an account's sessions (but `keep`, an id hash: the one making the request)."""

    async def work(conn: aiosqlite.Connection) -> int:
        target = await _target(conn, staff_id)
        ended = await _end_sessions(conn, staff_id, keep)
        await audit.record(
            conn,
            now,
            actor.name,
            "sessions_ended",
            staff_id=actor.staff_id,
            detail=f"{target.email}: {ended}",
        )
        return ended

    return await db.write(work)


async def end_own_session(db: Database, staff: Staff, handle: str, now: datetime) -> bool:
    """End one of one's own sessions, named by its handle; False if there is none."""

    async def work(conn: aiosqlite.Connection) -> bool:
        cursor = await conn.execute(
            "DELETE FROM sessions WHERE staff_id = ? AND handle = ?", (staff.id, handle)
        )
        if cursor.rowcount != 1:
            return False
        await audit.record(conn, now, staff.email, "session_ended", staff_id=staff.id)
        return True

    return await db.write(work)


@dataclass(frozen=True)
class SessionInfo:
    """One of a person's live sessions, as their account page lists it."""

    handle: str
    device: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


async def own_sessions(db: Database, staff_id: int, current: str) -> list[SessionInfo]:
    """A person's sessions, the one in use first, then the most recently seen."""
    rows = await db.fetchall(
        "SELECT id_hash, handle, device, created_at, last_seen_at FROM sessions"
        " WHERE staff_id = ? ORDER BY last_seen_at DESC",
        (staff_id,),
    )
    found = [
        SessionInfo(
            r["handle"] or "",
            r["device"] or "Unknown browser",
            parse_utc(r["created_at"]),
            parse_utc(r["last_seen_at"]),
            r["id_hash"] == current,
        )
        for r in rows
    ]
    return sorted(found, key=lambda s: not s.current)


async def set_password(
    db: Database, staff_id: int, password_hash: str, actor: Actor, now: datetime, *, keep: str = ""
) -> None:
    """Replace a password and end the account's sessions (but `keep`, the id hash of the
    session that changed its own password)."""

    async def work(conn: aiosqlite.Connection) -> None:
        target = await _target(conn, staff_id)
        await conn.execute(
            "UPDATE staff SET password_hash = ?, updated_at = ? WHERE id = ?",
            (password_hash, utc_now_iso(now), staff_id),
        )
        await _end_sessions(conn, staff_id, keep)
        await audit.record(
            conn, now, actor.name, "password_changed", staff_id=actor.staff_id, detail=target.email
        )

    await db.write(work)
