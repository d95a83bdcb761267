"""Two-factor settings of an account: turn on (with a first code), turn off, reset, and new
recovery codes. Each change and its audit entry are one transaction.

The secret offered during set-up travels in a signed token (bound to the account, expiring)
until the person confirms it with a code: nothing is stored for a set-up never finished.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import aiosqlite
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import Secret

from webapp import audit, totp
from webapp.accounts import AccountNotFound, Actor
from webapp.auth import Staff
from webapp.db import Database, utc_now_iso

SETUP_MAX_AGE = timedelta(minutes=30)


class WrongCode(Exception):
    """The code does not match the secret being set up (or the set-up has expired)."""


class SetupTokens:
    """The secret being set up, signed and bound to the account, for the confirming form."""

    def __init__(self, keys: tuple[Secret, ...]) -> None:
        self._serializer = URLSafeSerializer(
            [str(k) for k in reversed(keys)],
            salt="staff-mfa-setup",
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def issue(self, staff_id: int, secret: str, now: datetime) -> str:
        """A token carrying the secret for this account."""
        return self._serializer.dumps({"s": staff_id, "k": secret, "t": now.timestamp()})

    def read(self, token: str, staff_id: int, now: datetime) -> str | None:
        """The secret, if the token is genuine, this account's and recent enough."""
        if not token or len(token) > 400:
            return None
        try:
            data = self._serializer.loads(token)
            owner, secret, issued = int(data["s"]), str(data["k"]), float(data["t"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        age = now - datetime.fromtimestamp(issued, UTC)
        if (
            owner != staff_id
            or not totp.valid_secret(secret)
            or not (-timedelta(minutes=1) <= age <= SETUP_MAX_AGE)
        ):
            return None
        return secret


async def _store_codes(conn: aiosqlite.Connection, staff_id: int) -> list[str]:
    await conn.execute("DELETE FROM recovery_codes WHERE staff_id = ?", (staff_id,))
    codes = totp.new_recovery_codes()
    await conn.executemany(
        "INSERT INTO recovery_codes (staff_id, code_hash) VALUES (?, ?)",
        [(staff_id, totp.recovery_hash(code)) for code in codes],
    )
    return codes


async def enable(db: Database, staff: Staff, secret: str, code: str, now: datetime) -> list[str]:
    """Turn two-factor on with the secret the person's app now holds, proven by a code from
    it; returns the recovery codes (shown once). WrongCode if the code does not match."""
    step = totp.matching_step(secret, code, now, None)
    if step is None:
        raise WrongCode

    async def work(conn: aiosqlite.Connection) -> list[str]:
        cursor = await conn.execute(
            "UPDATE staff SET totp_secret = ?, totp_last_step = ?, mfa_enabled_at = ?,"
            " updated_at = ? WHERE id = ? AND active = 1",
            (secret, step, utc_now_iso(now), utc_now_iso(now), staff.id),
        )
        if cursor.rowcount != 1:
            raise AccountNotFound(str(staff.id))
        codes = await _store_codes(conn, staff.id)
        await audit.record(conn, now, staff.email, "mfa_enabled", staff_id=staff.id)
        return codes

    return await db.write(work)


async def new_recovery_codes(db: Database, staff: Staff, now: datetime) -> list[str]:
    """Replace the recovery codes (the old ones stop working); returns the new ones."""

    async def work(conn: aiosqlite.Connection) -> list[str]:
        async with conn.execute(
            "SELECT totp_secret IS NOT NULL FROM staff WHERE id = ?", (staff.id,)
        ) as cursor:
            row = await cursor.fetchone()
        if not row or not row[0]:
            raise AccountNotFound(str(staff.id))
        codes = await _store_codes(conn, staff.id)
        await audit.record(conn, now, staff.email, "recovery_codes_new", staff_id=staff.id)
        return codes

    return await db.write(work)


async def unused_codes(db: Database, staff_id: int) -> int:
    """How many recovery codes are left."""
    row = await db.fetchone(
        "SELECT count(*) FROM recovery_codes WHERE staff_id = ? AND used_at IS NULL", (staff_id,)
    )
    return int(row[0]) if row else 0


async def turn_off(db: Database, staff_id: int, actor: Actor, now: datetime) -> bool:
    """Turn two-factor off (by its owner) or reset it (by an admin or the command line);
    False if it was not on."""

    async def work(conn: aiosqlite.Connection) -> bool:
        async with conn.execute(
            "SELECT email, totp_secret IS NOT NULL FROM staff WHERE id = ?", (staff_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise AccountNotFound(str(staff_id))
        if not row[1]:
            return False
        await conn.execute(
            "UPDATE staff SET totp_secret = NULL, totp_last_step = NULL, mfa_enabled_at = NULL,"
            " updated_at = ? WHERE id = ?",
            (utc_now_iso(now), staff_id),
        )
        await conn.execute("DELETE FROM recovery_codes WHERE staff_id = ?", (staff_id,))
        action = "mfa_disabled" if actor.staff_id == staff_id else "mfa_reset"
        await audit.record(conn, now, actor.name, action, staff_id=actor.staff_id, detail=row[0])
        return True

    return await db.write(work)
