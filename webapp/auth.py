"""Staff accounts: password rules and hashing, server-side sessions, login throttling."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite
import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, Signer
from starlette.datastructures import Secret

from webapp import audit
from webapp.db import Database, parse_utc, utc_now_iso
from webapp.storage import StorageUnavailable

MIN_PASSWORD = 12
MAX_PASSWORD = 256
IDLE_LIMIT = timedelta(minutes=30)
ABSOLUTE_LIMIT = timedelta(hours=12)
# Writing last_seen_at on every click would make each staff page a write; once a minute is
# precise enough for a 30-minute idle limit.
TOUCH_EVERY = timedelta(seconds=60)
CLINIC_WORDS = ["albany", "ketamine", "infusion", "infusions", "clinic", "depression"]
ROLES = ("admin", "staff")
STAFF_COLUMNS = "st.id, st.email, st.active, st.role, st.totp_secret IS NOT NULL AS mfa"


@dataclass(frozen=True)
class Staff:
    """A member of staff as the app sees them."""

    id: int
    email: str
    active: bool
    role: str = "staff"
    mfa_enabled: bool = False

    @property
    def is_admin(self) -> bool:
        """Admins manage the accounts."""
        return self.role == "admin"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Staff:
        """From a row selected with STAFF_COLUMNS."""
        return cls(row["id"], row["email"], bool(row["active"]), row["role"], bool(row["mfa"]))


@dataclass(frozen=True)
class Session:
    """A signed-in staff session."""

    id_hash: str
    staff: Staff
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    handle: str = ""
    device: str = ""


def password_problem(password: str, email: str = "") -> str | None:
    """Why a new password is refused (length, or common/guessable), or None if acceptable."""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters."
    from zxcvbn import zxcvbn  # imported here: only account changes need it (start-up time)

    hints = [*CLINIC_WORDS, email, email.split("@")[0]]
    # zxcvbn refuses input over 72 characters; a longer passphrase is judged by its start.
    result = zxcvbn(password[:72], user_inputs=[h for h in hints if h])
    if result["score"] < 3:
        warning = result["feedback"].get("warning") or "It is too easy to guess."
        return f"Choose a less common password. {warning}".strip()
    return None


class Hasher:
    """Argon2id hashing that runs off the event loop, with its work bounded."""

    def __init__(self, fast: bool = False) -> None:
        # `fast` is for the test suite only: same algorithm, cheaper parameters.
        self._hasher = (
            PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
            if fast
            else PasswordHasher()
        )
        self._dummy: str | None = None  # made on first use: hashing costs ~0.1 s at start-up
        # Each Argon2id check takes 64 MiB and a core: one at a time keeps a burst of sign-ins
        # from exhausting memory or the machine's cores. Sign-ins from a trusted device (a
        # device cookie) and signed-in people confirming their password have a lane of their
        # own, so a flood from elsewhere never queues in front of them.
        self._untrusted = anyio.CapacityLimiter(1)
        self._trusted = anyio.CapacityLimiter(1)
        # Trusted checks also go first: an untrusted one does not start while one waits or
        # runs (Argon2id uses every core, so two at once would slow the trusted one down).
        self._trusted_active = 0
        self._trusted_idle: anyio.Event | None = None  # set when the last trusted one ends

    def hash_sync(self, password: str) -> str:
        """Hash a password (blocking; for the CLI)."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        """Hash a password off the event loop (new passwords set in the browser)."""
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._trusted)

    async def verify(self, stored: str | None, password: str, *, trusted: bool = False) -> bool:
        """Check a password; an unknown account costs the same time as a known one."""

        def check() -> bool:
            against = stored or self._dummy
            if against is None:
                against = self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
            try:
                return self._hasher.verify(against, password) and bool(stored)
            except (VerificationError, InvalidHashError):
                return False

        if trusted:
            if self._trusted_active == 0:
                self._trusted_idle = anyio.Event()
            self._trusted_active += 1
            try:
                return await anyio.to_thread.run_sync(check, limiter=self._trusted)
            finally:
                self._trusted_active -= 1
                if self._trusted_active == 0 and self._trusted_idle is not None:
                    self._trusted_idle.set()
        async with self._untrusted:
            while self._trusted_active and self._trusted_idle is not None:
                await self._trusted_idle.wait()
            return await anyio.to_thread.run_sync(check)

    def needs_rehash(self, stored: str) -> bool:
        """True when the hash uses older parameters than the current ones."""
        return self._hasher.check_needs_rehash(stored)


def _hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Server-side sessions: the cookie carries only a random id, signed (SHA-256)."""

    def __init__(self, db: Database, keys: tuple[Secret, ...]) -> None:
        self.db = db
        # Signer verifies with every key and signs with the last: newest goes last.
        self._signer = Signer(
            [str(k) for k in reversed(keys)], salt="staff-session", digest_method=hashlib.sha256
        )

    async def create(
        self, conn: aiosqlite.Connection, staff: Staff, now: datetime, device: str = ""
    ) -> tuple[str, str]:
        """Inside a write transaction: a new session and its audit entry; returns (cookie
        value, csrf token)."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        stamp = utc_now_iso(now)
        await conn.execute(
            "INSERT INTO sessions (id_hash, staff_id, csrf_token, created_at, last_seen_at,"
            " handle, device) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                _hash_id(session_id),
                staff.id,
                csrf,
                stamp,
                stamp,
                secrets.token_hex(12),
                device[:80],
            ),
        )
        await audit.record(conn, now, staff.email, "login", staff_id=staff.id)
        return self._signer.sign(session_id).decode(), csrf

    async def start(self, staff: Staff, now: datetime, device: str = "") -> tuple[str, str]:
        """A new session in a transaction of its own; returns (cookie value, csrf token)."""
        found = await self.db.write(lambda conn: self.create(conn, staff, now, device))
        await self.forget_expired(now)
        return found

    async def forget_expired(self, now: datetime) -> None:
        """Delete sessions past either limit (cheap; done at each sign-in)."""

        async def work(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?",
                (utc_now_iso(now - IDLE_LIMIT), utc_now_iso(now - ABSOLUTE_LIMIT)),
            )

        await self.db.write(work)

    async def load(
        self, cookie: str | None, now: datetime, *, touch: bool = True
    ) -> Session | None:
        """The live session a cookie names, or None (tampered, unknown, expired, disabled).

        `touch=False` for requests no person made (polling): they keep the session open
        without counting as activity, so idle time runs from the last thing a person did.
        """
        if not cookie or len(cookie) > 200:
            return None
        try:
            session_id = self._signer.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        row = await self.db.fetchone(
            "SELECT s.id_hash, s.csrf_token, s.created_at, s.last_seen_at, s.handle, s.device,"  # noqa: S608 (constant column list)
            f" {STAFF_COLUMNS} FROM sessions s JOIN staff st ON st.id = s.staff_id"
            " WHERE s.id_hash = ?",
            (_hash_id(session_id),),
        )
        if row is None or not row["active"]:
            return None
        session = Session(
            id_hash=row["id_hash"],
            staff=Staff.from_row(row),
            csrf_token=row["csrf_token"],
            created_at=parse_utc(row["created_at"]),
            last_seen_at=parse_utc(row["last_seen_at"]),
            handle=row["handle"] or "",
            device=row["device"],
        )
        # Both writes are housekeeping: during a storage fault staff can still read (the
        # expired session is refused all the same, and the touch comes with the next write).
        if now - session.last_seen_at > IDLE_LIMIT or now - session.created_at > ABSOLUTE_LIMIT:
            with contextlib.suppress(StorageUnavailable):
                await self.end(session.id_hash)
            return None
        if touch and now - session.last_seen_at > TOUCH_EVERY:
            with contextlib.suppress(StorageUnavailable):
                await self._touch(session.id_hash, now)
        return session

    async def _touch(self, id_hash: str, now: datetime) -> None:
        async def work(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?",
                (utc_now_iso(now), id_hash),
            )

        await self.db.write(work)

    async def end(self, id_hash: str) -> None:
        """End one session (expiry)."""

        async def work(conn: aiosqlite.Connection) -> None:
            await conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

        await self.db.write(work)

    async def sign_out(self, session: Session, now: datetime) -> None:
        """End a session at its owner's request, with its audit entry."""
        staff = session.staff

        async def work(conn: aiosqlite.Connection) -> None:
            await conn.execute("DELETE FROM sessions WHERE id_hash = ?", (session.id_hash,))
            await audit.record(conn, now, staff.email, "logout", staff_id=staff.id)

        await self.db.write(work)


def csrf_matches(session: Session, submitted: str | None) -> bool:
    """Constant-time check of a submitted CSRF token against the session's."""
    if not submitted:
        return False
    return hmac.compare_digest(session.csrf_token.encode(), submitted.encode("utf-8", "replace"))


async def find_staff(db: Database, email: str) -> tuple[Staff, str] | None:
    """An account and its password hash by email (any case)."""
    row = await db.fetchone(
        f"SELECT {STAFF_COLUMNS}, st.password_hash FROM staff st WHERE st.email = ?",  # noqa: S608 (constant column list)
        (email.strip(),),
    )
    if row is None:
        return None
    return Staff.from_row(row), row["password_hash"]


async def get_staff(db: Database, staff_id: int) -> tuple[Staff, str] | None:
    """An account and its password hash by id."""
    row = await db.fetchone(
        f"SELECT {STAFF_COLUMNS}, st.password_hash FROM staff st WHERE st.id = ?",  # noqa: S608
        (staff_id,),
    )
    if row is None:
        return None
    return Staff.from_row(row), row["password_hash"]


async def create_staff(
    db: Database,
    email: str,
    password_hash: str,
    now: datetime,
    *,
    admin: bool = False,
    actor: str = "command line",
) -> int:
    """Add an account (the first one ever is an admin); ValueError if the email is taken."""
    stamp = utc_now_iso(now)

    async def work(conn: aiosqlite.Connection) -> int:
        return await insert_staff(
            conn, email, password_hash, stamp, admin=admin, actor=actor, now=now
        )

    return await db.write(work)


async def insert_staff(
    conn: aiosqlite.Connection,
    email: str,
    password_hash: str,
    stamp: str,
    *,
    admin: bool,
    actor: str,
    now: datetime,
    staff_id: int | None = None,
) -> int:
    """Inside a write transaction: add an account and its audit entry (`staff_id` is who
    did it, when it was someone signed in)."""
    async with conn.execute("SELECT EXISTS (SELECT 1 FROM staff)") as cursor:
        row = await cursor.fetchone()
    role = "admin" if admin or not (row and row[0]) else "staff"
    try:
        cursor = await conn.execute(
            "INSERT INTO staff (email, password_hash, active, role, created_at, updated_at)"
            " VALUES (?, ?, 1, ?, ?, ?)",
            (email, password_hash, role, stamp, stamp),
        )
    except aiosqlite.IntegrityError:
        raise ValueError(f"an account for {email} already exists") from None
    new_id = int(cursor.lastrowid or 0)
    await audit.record(
        conn, now, actor, "account_created", staff_id=staff_id, detail=f"{email} ({role})"
    )
    return new_id


async def replace_hash(db: Database, staff_id: int, password_hash: str, now: datetime) -> None:
    """Store a re-hash made with current parameters (sessions stay)."""

    async def work(conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "UPDATE staff SET password_hash = ?, updated_at = ? WHERE id = ?",
            (password_hash, utc_now_iso(now), staff_id),
        )

    await db.write(work)
