"""What the clinic holds about one person, a copy of it, and erasing it for good.

A person is found through one request (its reference or id); other requests with the same
email address or phone number are offered too, because the same person often writes twice, but
a family or an office may share a phone: staff choose which go. Erasure deletes the requests
with their notes, rewrites the full-text index so no fragment of their text remains, and
empties the write-ahead log, so the bytes of the database files no longer hold them. The audit
trail keeps that it happened, by reference only; it never held the person's details.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from webapp import audit
from webapp.auth import Staff
from webapp.db import Database, checkpoint
from webapp.queue import COUNT_CAP
from webapp.settings import Settings
from webapp.storage import StorageUnavailable

log = logging.getLogger(__name__)
MAX_REFERENCE = 20
# How the other requests matched the one asked about.
SAME_EMAIL = "same email"
SAME_PHONE = "same phone"
SAME_BOTH = "same email and phone"


class NotHeld(LookupError):
    """No request has that reference or id (never stored, or already deleted)."""


class NotOffered(ValueError):
    """A request chosen for erasure or a copy is not one of those offered with this person."""


@dataclass(frozen=True)
class Held:
    """One stored request, as the erasure and copy pages name it."""

    id: int
    reference: str
    full_name: str
    email: str
    phone: str
    created_at: str
    status: str
    suspected_spam: str | None
    notes: int
    match: str = ""  # "" for the request asked about, else SAME_EMAIL, SAME_PHONE, SAME_BOTH


@dataclass(frozen=True)
class Person:
    """The request asked about and the other requests with the same email or phone."""

    request: Held
    others: tuple[Held, ...]

    def chosen(self, other_ids: Iterable[int]) -> list[Held]:
        """The request asked about and the chosen others; NotOffered for any other id."""
        offered = {held.id: held for held in self.others}
        picked = []
        for other_id in dict.fromkeys(other_ids):
            if other_id not in offered:
                raise NotOffered(other_id)
            picked.append(offered[other_id])
        return [self.request, *picked]


def normalise_reference(raw: str) -> str:
    """A reference as staff might type it (" aki-7f3k2 ") in its stored form ("AKI-7F3K2")."""
    text = raw.strip().upper()
    if not text.startswith("AKI-"):
        text = "AKI-" + text
    return text[:MAX_REFERENCE]


async def id_for(db: Database, reference: str) -> int:
    """The id of the request with this reference; NotHeld when there is none."""
    row = await db.fetchone(
        "SELECT id FROM consultations WHERE reference = ?", (normalise_reference(reference),)
    )
    if row is None:
        raise NotHeld(reference)
    return int(row[0])


_HELD = (
    "SELECT id, reference, full_name, email, phone, created_at, status, suspected_spam,"
    " (SELECT count(*) FROM notes n WHERE n.consultation_id = c.id) AS notes"
    " FROM consultations c"
)


def _held(row: Any, match: str = "") -> Held:
    return Held(
        id=int(row["id"]),
        reference=row["reference"],
        full_name=row["full_name"],
        email=row["email"],
        phone=row["phone"],
        created_at=row["created_at"],
        status=row["status"],
        suspected_spam=row["suspected_spam"],
        notes=int(row["notes"]),
        match=match,
    )


async def person(db: Database, consultation_id: int) -> Person:
    """The request and every other one sharing its email (any case) or phone; NotHeld.

    One statement, so one snapshot: an erasure committing meanwhile never leaves the request
    found without the others it was erased with."""
    rows = await db.fetchall(
        f"{_HELD} JOIN (SELECT email AS e, phone AS p FROM consultations WHERE id = ?) a"  # noqa: S608
        " ON c.id = ? OR (a.e <> '' AND c.email = a.e COLLATE NOCASE)"
        " OR (a.p <> '' AND c.phone = a.p) ORDER BY c.id <> ?, c.id",
        (consultation_id, consultation_id, consultation_id),
    )
    if not rows or int(rows[0]["id"]) != consultation_id:
        raise NotHeld(consultation_id)
    asked = _held(rows[0])
    others = []
    for other in rows[1:]:
        email = bool(asked.email) and other["email"].lower() == asked.email.lower()
        phone = bool(asked.phone) and other["phone"] == asked.phone
        match = SAME_BOTH if email and phone else SAME_EMAIL if email else SAME_PHONE
        others.append(_held(other, match))
    return Person(asked, tuple(others))


async def scrub_index(conn: aiosqlite.Connection) -> None:
    """Inside the deleting transaction: rewrite the full-text index as one segment.

    Deleting a row only adds a "deleted" marker to the trigram index; the old segments keep
    three-letter fragments of the text until they are merged. 'optimize' merges every segment,
    so the fragments go, and secure_delete zeroes the pages the old segments held."""
    await conn.execute("INSERT INTO consultations_fts (consultations_fts) VALUES ('optimize')")


# How long each try waits for readers. Writers (visitors' requests) wait while it does, so
# it is kept short: a reader that holds on longer is dealt with by the write-ahead-log job.
FORGET_WAIT = 0.5


async def forget_traces(db: Database, tries: int = 5) -> bool:
    """After personal data was deleted: copy the write-ahead log into the database and empty
    it (TRUNCATE), so its old pages do not keep the text. A reader in the middle of a query
    can hold it up for a moment: tried again a few times, each briefly. False when it could
    not finish (the write-ahead-log job empties it within minutes)."""
    for attempt in range(tries):
        if await anyio.to_thread.run_sync(checkpoint, db.path, FORGET_WAIT):
            return True
        await anyio.sleep(0.1 * (attempt + 1))
    log.warning("the write-ahead log could not be emptied now; it is tried again shortly")
    return False


async def erase(
    db: Database,
    chosen: Sequence[Held],
    now: datetime,
    actor: str,
    staff_id: int | None = None,
) -> list[str]:
    """Delete the chosen requests with their notes, each with an audit entry naming only its
    reference; then leave no trace of them in the index or the write-ahead log.

    The first is the request asked about: NotHeld when it is gone already (nothing is done).
    Returns the references erased (others deleted meanwhile are left out)."""

    async def work(conn: aiosqlite.Connection) -> list[str]:
        erased = []
        for index, held in enumerate(chosen):
            cursor = await conn.execute(
                "DELETE FROM consultations WHERE id = ? AND reference = ?",
                (held.id, held.reference),
            )
            if cursor.rowcount == 0:
                if index == 0:
                    raise NotHeld(held.reference)
                continue
            erased.append(held.reference)
            await audit.record(
                conn, now, actor, "erase", staff_id=staff_id, consultation_id=held.id,
                detail=held.reference if index == 0 else f"{held.reference} ({held.match})",
            )  # fmt: skip
        await scrub_index(conn)
        return erased

    erased = await db.write(work)
    await forget_traces(db)
    return erased


# --- what the privacy page promises ------------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    """How long each kind of data is kept, as the privacy page states it (from the settings,
    so the page and the retention job cannot disagree)."""

    retention_days: int
    spam_days: int
    draft_minutes: int
    rate_limit_hours: int
    backup_days: int
    log_client_address: bool
    log_days: int

    @classmethod
    def of(cls, settings: Settings) -> Kept:
        """The figures for these settings."""
        from webapp import drafts, spam, throttle

        # Daily backups (the newest BACKUP_KEEP are kept) hold deleted data until the oldest
        # copy holding it is replaced.
        backup_days = settings.backup_keep
        return cls(
            retention_days=settings.retention_days,
            spam_days=spam.KEEP.days,
            draft_minutes=int(drafts.TTL.total_seconds() // 60),
            rate_limit_hours=int(throttle.KEEP.total_seconds() // 3600),
            backup_days=backup_days,
            log_client_address=settings.log_client_address,
            log_days=settings.log_retention_days,
        )

    @property
    def retention_words(self) -> str:
        """RETENTION_DAYS for people: "12 months (365 days)", "2 years (730 days)", "90 days"."""
        days = self.retention_days
        if days % 365 == 0:
            years = days // 365
            return f"{'12 months' if years == 1 else f'{years} years'} ({days} days)"
        return f"{days} days"


async def record_search(
    db: Database, now: datetime, staff: Staff, results: int, capped: bool, status: str
) -> None:
    """Audit a search of the requests: that it happened and how many matched, never what was
    typed (a name, an email, a phone number). During a storage fault nothing can be written:
    the search is still answered (staff read during an outage; the fault is logged)."""
    found = f"{COUNT_CAP:,}+" if capped else f"{results:,}"
    detail = f"{found} result{'s' if results != 1 else ''}"
    if status:
        detail += f", status {status}"
    try:
        await audit.log(db, now, staff.email, "search", staff_id=staff.id, detail=detail)
    except StorageUnavailable:
        log.warning("a search could not be audited: the database cannot take a write")


# --- a restore must not bring erased people back ---------------------------------------------


@dataclass(frozen=True)
class Reapplied:
    """Erasures recorded in the replaced database, applied again to a restored copy."""

    references: list[str]
    readable: bool  # False: the replaced database could not be read (erase again by hand)


def reapply_erasures(replaced: Path, restored: Path) -> Reapplied:
    """Before a restored copy goes live (sync; nothing else has it open): every erasure the
    replaced database's audit trail records is applied to the copy too, with its entry, so a
    backup made before an erasure never brings the person back. Retention catches up by
    itself (its daily job, or `purge`)."""
    from webapp.db import PRAGMAS

    if not replaced.exists():
        return Reapplied([], True)
    try:
        with closing(sqlite3.connect(f"file:{replaced}?mode=ro", uri=True)) as source:
            erasures = source.execute(
                "SELECT at, actor, consultation_id, detail FROM audit_log"
                " WHERE action = 'erase' ORDER BY id"
            ).fetchall()
    except sqlite3.DatabaseError:
        log.warning("the replaced database cannot be read: erase again what was erased since")
        return Reapplied([], False)
    again = []
    with closing(sqlite3.connect(restored, isolation_level=None)) as conn:
        for pragma in PRAGMAS:
            conn.execute(pragma)
        conn.execute("BEGIN IMMEDIATE")
        try:
            known = set(
                conn.execute("SELECT at, detail FROM audit_log WHERE action = 'erase'").fetchall()
            )
            for at, actor, consultation_id, detail in erasures:
                reference = str(detail).split(" ", 1)[0]
                gone = conn.execute(
                    "DELETE FROM consultations WHERE id = ? AND reference = ?",
                    (consultation_id, reference),
                ).rowcount
                if gone:
                    again.append(reference)
                if (at, detail) not in known:  # the trail of the copy records it too
                    conn.execute(
                        "INSERT INTO audit_log (at, actor, action, consultation_id, detail)"
                        " VALUES (?, ?, 'erase', ?, ?)",
                        (at, actor, consultation_id, detail),
                    )
            if again:
                conn.execute(
                    "INSERT INTO consultations_fts (consultations_fts) VALUES ('optimize')"
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Reapplied(again, True)
