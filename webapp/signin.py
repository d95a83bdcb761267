"""Staff sign-in that holds under attack.

Every attempt first reserves its place in the database's rate limits, inside one write
transaction, before any password is checked: the reservation *is* the failure record, and it
is taken back only when the password turns out right. However many attempts arrive at once,
no more than the limit reach Argon2. Limits (OWASP's device-cookie pattern):

- from a browser with a valid device cookie for the account: per device (its nonce);
- from anywhere else: per typed account, per client address (an IPv6 address by its /64),
  and for all such attempts together (which bounds the Argon2 work a botnet can cause).

Two-factor codes are throttled the same way, and checked, used up and turned into a session
in one transaction. Failed attempts are audited with the account they named, or, for an
unknown account, a keyed hash of what was typed: never the text itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

import aiosqlite
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import Secret

from webapp import audit, totp
from webapp.auth import Hasher, Sessions, Staff, find_staff, get_staff
from webapp.db import Database, utc_now_iso
from webapp.devices import DeviceEntry, entry_for
from webapp.throttle import Limit, Throttle

log = logging.getLogger(__name__)
WINDOW = timedelta(minutes=15)
# Passwords.
ACCOUNT = Limit("login-account", 5, WINDOW)
DEVICE = Limit("login-device", 5, WINDOW)
ADDRESS = Limit("login-address", 10, WINDOW)
UNTRUSTED = Limit("login-untrusted", 30, timedelta(minutes=1))
# Two-factor codes, the same way.
CODE_ACCOUNT = Limit("code-account", 5, WINDOW)
CODE_DEVICE = Limit("code-device", 5, WINDOW)
CODE_ADDRESS = Limit("code-address", 10, WINDOW)
# One audit entry per lock-out, not one per refused attempt.
NOTED = Limit("login-noted", 1, WINDOW)
PENDING_MAX_AGE = timedelta(minutes=10)
UNKNOWN_ACTOR = "unknown account"


@dataclass(frozen=True)
class Attempt:
    """Who is trying, from where: the identifier typed, the client's address, and the
    entries of the browser's device cookie (already checked for their signature)."""

    identifier: str
    client: str
    devices: list[DeviceEntry]


class Refused(Exception):
    """Too many attempts: refused before any check; `retry_after` in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class Failed(Exception):
    """The credentials do not open an active account (one answer for every reason)."""


@dataclass(frozen=True)
class Verified:
    """A right password for an active account; its reservations are still held."""

    staff: Staff
    password_hash: str
    trusted: bool
    reserved: list[int]


@dataclass(frozen=True)
class Pending:
    """A sign-in waiting for its second factor (from a signed token)."""

    staff_id: int
    fingerprint: str
    next_url: str


class CodeOutcome(Enum):
    """How a second-factor attempt ended."""

    SIGNED_IN = "signed in"
    WRONG = "wrong"
    REFUSED = "refused"
    GONE = "gone"  # the account was disabled, its password or two-factor changed


@dataclass(frozen=True)
class CodeResult:
    """A second-factor attempt's outcome (the session's cookie and token when signed in)."""

    outcome: CodeOutcome
    staff: Staff | None = None
    cookie: str = ""
    csrf: str = ""
    retry_after: int = 0
    used_recovery: bool = False


class SignIn:
    """The sign-in rules, over the database, the throttle, the hasher and the sessions."""

    def __init__(
        self,
        db: Database,
        throttle: Throttle,
        hasher: Hasher,
        sessions: Sessions,
        keys: tuple[Secret, ...],
    ) -> None:
        self.db = db
        self.throttle = throttle
        self.hasher = hasher
        self.sessions = sessions
        self._audit_key = hashlib.sha256(b"audit-identifier\x00" + str(keys[0]).encode()).digest()
        self._pending = URLSafeSerializer(
            [str(k) for k in reversed(keys)],
            salt="staff-sign-in-pending",
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        self._fingerprint_key = str(keys[0]).encode()

    # --- passwords ----------------------------------------------------------------------------

    async def check_password(self, attempt: Attempt, password: str, now: datetime) -> Verified:
        """Reserve, then check. Raises Refused (nothing checked) or Failed (audited)."""
        identifier = attempt.identifier.strip()
        found = await find_staff(self.db, identifier) if identifier else None
        device = entry_for(attempt.devices, found[0].id if found else None)
        wanted = _limits(attempt, device, identifier.lower(), (ACCOUNT, DEVICE, ADDRESS, UNTRUSTED))
        staff = found[0] if found else None

        async def reserve(conn: aiosqlite.Connection) -> list[int] | int:
            reserved = await self.throttle.reserve_all(conn, wanted, now)
            if isinstance(reserved, Limit):
                return await self._refuse(conn, reserved, wanted, attempt, staff, now)
            return reserved

        result = await self.db.write(reserve)
        if isinstance(result, int):
            raise Refused(result)
        ok = await self.hasher.verify(found[1] if found else None, password, trusted=bool(device))
        if not ok or found is None or not found[0].active:
            await self.db.write(
                lambda conn: self._record(conn, now, "login_failed", staff, attempt)
            )
            raise Failed
        return Verified(found[0], found[1], bool(device), result)

    async def _record(
        self,
        conn: aiosqlite.Connection,
        now: datetime,
        action: str,
        staff: Staff | None,
        attempt: Attempt,
        why: str = "",
    ) -> None:
        """Audit an attempt: the account it named, else a keyed hash of what was typed."""
        where = f"{why}: " if why else ""
        if staff is not None:
            await audit.record(
                conn,
                now,
                staff.email,
                action,
                staff_id=staff.id,
                detail=f"{where}from {attempt.client}",
            )
            return
        identifier = attempt.identifier.strip()
        if not identifier:
            await audit.record(conn, now, "(blank)", action, detail=f"{where}from {attempt.client}")
            return
        typed = self.identifier_hash(identifier)
        await audit.record(
            conn, now, UNKNOWN_ACTOR, action, detail=f"{where}typed {typed} from {attempt.client}"
        )

    def identifier_hash(self, identifier: str) -> str:
        """A keyed hash of a typed identifier: the same typing gives the same hash (a trail
        can be followed), but the text cannot be read back."""
        message = identifier.strip().lower().encode("utf-8", "replace")
        return "id:" + hmac.new(self._audit_key, message, hashlib.sha256).hexdigest()[:16]

    async def _refuse(
        self,
        conn: aiosqlite.Connection,
        limit: Limit,
        wanted: list[tuple[Limit, str]],
        attempt: Attempt,
        staff: Staff | None,
        now: datetime,
    ) -> int:
        """Inside the refusing transaction: audit the lock-out once per window (per limit and
        key, not per refused attempt); returns the seconds to wait."""
        key = _key(limit, wanted)
        if await self.throttle.reserve(conn, NOTED, f"{limit.bucket}\x00{key}", now) is not None:
            await self._record(conn, now, "login_locked", staff, attempt, why=limit.bucket)
            log.warning("staff sign-in refused after repeated failures (%s)", limit.bucket)
        return max(1, await self.throttle.retry_after(limit, key, now, conn=conn))

    async def complete(
        self, verified: Verified, now: datetime, device_label: str
    ) -> tuple[str, str]:
        """The password was right and no second factor is needed: take back the
        reservations and start the session, in one transaction."""

        async def work(conn: aiosqlite.Connection) -> tuple[str, str]:
            await self.throttle.release_all(conn, verified.reserved)
            return await self.sessions.create(conn, verified.staff, now, device_label)

        return await self.db.write(work)

    # --- the second factor --------------------------------------------------------------------

    async def passed_password(self, verified: Verified, next_url: str, now: datetime) -> str:
        """The password was right and a code is needed: take back the reservations (the
        code has limits of its own) and return the signed token of the pending sign-in."""
        await self.db.write(lambda conn: self.throttle.release_all(conn, verified.reserved))
        return self._pending.dumps(
            {
                "s": verified.staff.id,
                "f": self._fingerprint(verified.password_hash),
                "n": next_url,
                "t": now.timestamp(),
            }
        )

    def read_pending(self, token: str, now: datetime) -> Pending | None:
        """A pending sign-in's token, if genuine and not older than PENDING_MAX_AGE."""
        if not token or len(token) > 800:
            return None
        try:
            data = self._pending.loads(token)
            staff_id, fingerprint = int(data["s"]), str(data["f"])
            next_url, issued = str(data["n"]), float(data["t"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        age = now - datetime.fromtimestamp(issued, UTC)
        if age > PENDING_MAX_AGE or age < -timedelta(minutes=1):
            return None
        return Pending(staff_id, fingerprint, next_url)

    def _fingerprint(self, password_hash: str) -> str:
        # Changes with the password: a pending sign-in ends when the password is changed.
        digest = hmac.new(self._fingerprint_key, password_hash.encode(), hashlib.sha256)
        return digest.hexdigest()[:24]

    async def check_code(
        self, pending: Pending, typed: str, attempt: Attempt, now: datetime, device_label: str
    ) -> CodeResult:
        """Reserve, check the code (or a recovery code), use it up and start the session:
        all in one transaction, so a code is accepted once however many requests carry it."""
        found = await get_staff(self.db, pending.staff_id)
        if (
            found is None
            or not found[0].active
            or not found[0].mfa_enabled
            or not hmac.compare_digest(self._fingerprint(found[1]), pending.fingerprint)
        ):
            return CodeResult(CodeOutcome.GONE)
        staff = found[0]
        device = entry_for(attempt.devices, staff.id)
        limits = (CODE_ACCOUNT, CODE_DEVICE, CODE_ADDRESS, None)
        wanted = _limits(attempt, device, staff.email.lower(), limits)

        async def work(conn: aiosqlite.Connection) -> CodeResult:
            reserved = await self.throttle.reserve_all(conn, wanted, now)
            if isinstance(reserved, Limit):
                wait = await self._refuse(conn, reserved, wanted, attempt, staff, now)
                return CodeResult(CodeOutcome.REFUSED, staff, retry_after=wait)
            used_recovery = False
            if totp.looks_like_code(typed):
                accepted = await _use_totp(conn, staff.id, typed, now)
            else:
                accepted = used_recovery = await _use_recovery(conn, staff.id, typed, now)
            if not accepted:
                await audit.record(
                    conn,
                    now,
                    staff.email,
                    "mfa_failed",
                    staff_id=staff.id,
                    detail=f"from {attempt.client}",
                )
                return CodeResult(CodeOutcome.WRONG, staff)
            await self.throttle.release_all(conn, reserved)
            if used_recovery:
                await audit.record(conn, now, staff.email, "recovery_code_used", staff_id=staff.id)
            cookie, csrf = await self.sessions.create(conn, staff, now, device_label)
            return CodeResult(
                CodeOutcome.SIGNED_IN, staff, cookie, csrf, used_recovery=used_recovery
            )

        return await self.db.write(work)


def _limits(
    attempt: Attempt,
    device: DeviceEntry | None,
    account_key: str,
    limits: tuple[Limit, Limit, Limit, Limit | None],
) -> list[tuple[Limit, str]]:
    """What an attempt reserves: its device's limit when the browser is trusted for the
    account, else the account's, the address's and (for passwords) everyone's."""
    account, per_device, address, everyone = limits
    if device is not None:
        return [(per_device, device.nonce)]
    wanted = [(account, account_key), (address, address_key(attempt.client))]
    return [*wanted, (everyone, "all")] if everyone else wanted


def address_key(client: str) -> str:
    """Whom the per-address limits count: an IPv4 address alone, an IPv6 address by its
    /64 (one household or server is given a whole /64, so a new address per attempt would
    otherwise be a new client each time); anything else as it is."""
    try:
        address = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _key(limit: Limit, wanted: list[tuple[Limit, str]]) -> str:
    return next(key for lim, key in wanted if lim is limit)


async def _use_totp(conn: aiosqlite.Connection, staff_id: int, typed: str, now: datetime) -> bool:
    """Inside the transaction: accept a code at a step later than the last one used."""
    async with conn.execute(
        "SELECT totp_secret, totp_last_step FROM staff WHERE id = ?", (staff_id,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None or not row[0]:
        return False
    step = totp.matching_step(row[0], typed, now, row[1])
    if step is None:
        return False
    await conn.execute("UPDATE staff SET totp_last_step = ? WHERE id = ?", (step, staff_id))
    return True


async def _use_recovery(
    conn: aiosqlite.Connection, staff_id: int, typed: str, now: datetime
) -> bool:
    """Inside the transaction: use up one unused recovery code."""
    if totp.normalize_recovery(typed) is None:
        return False
    cursor = await conn.execute(
        "UPDATE recovery_codes SET used_at = ? WHERE id = (SELECT id FROM recovery_codes"
        " WHERE staff_id = ? AND code_hash = ? AND used_at IS NULL LIMIT 1)",
        (utc_now_iso(now), staff_id, totp.recovery_hash(typed)),
    )
    return cursor.rowcount == 1
