"""Consultation requests: validation (pure) and the queries that store them exactly once.

Nothing that passes validation is thrown away: a request that looks automated (the hidden
field filled in, sent implausibly fast, or arriving in a flood) is stored with a
`suspected_spam` flag naming the signal, and the visitor's answer is the same either way.
The signals, the flood limits and the purge live in webapp.spam; staff move a flagged request to
the queue with followup.move_to_queue.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time

import aiosqlite

from webapp import search
from webapp.db import Database, parse_utc, utc_now_iso
from webapp.groupcommit import at_group_end
from webapp.hours import format_time

MAX_NAME = 100
MAX_EMAIL = 254
MAX_MESSAGE = 1000
CONTACT_METHODS = {"call": "Phone call", "text": "Text message", "email": "Email"}
# Written as every other time on the site is (hours.format_time): "12:00 noon", "5:00 PM".
_NINE, _NOON, _FIVE = (format_time(time(h)) for h in (9, 12, 17))
BEST_TIMES = {
    "morning": f"Morning ({_NINE} – {_NOON})",
    "afternoon": f"Afternoon ({_NOON} – {_FIVE})",
    "any": "Any time",
}
# The form's own fields; anything else in a submission is refused.
PERSON_FIELDS = ("full_name", "email", "phone", "contact_method", "best_time", "message", "consent")
# `draft`: the no-JavaScript form shown again from a kept draft names it, to forget it once sent.
FORM_FIELDS = frozenset({*PERSON_FIELDS, "token", "website", "draft"})
HONEYPOT = "website"
# Crockford-style alphabet: no I, L, O, U, so a reference reads aloud without confusion.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
# C0/C1 controls, line/paragraph separators and bidirectional overrides (which could make a
# name display as something else in the staff dashboard).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Submission:
    """A valid consultation request, normalised for storage."""

    full_name: str
    email: str
    phone: str  # E.164, e.g. +15185550123, or ""
    contact_method: str
    best_time: str
    message: str


# The signals that flag a request as suspected spam, strongest first, as staff read them.
SPAM_KINDS = {
    "honeypot": "the hidden field was filled in",
    "too_fast": "sent within seconds of the form appearing",
    "flood": "sent during a flood of requests",
}


@dataclass(frozen=True)
class Stored:
    """What the visitor's confirmation needs."""

    reference: str
    created_at: datetime
    contact_method: str
    reply_by: datetime | None = None
    replayed: bool = False
    # For the log line only: the visitor's answer never depends on it.
    suspected_spam: str | None = None


class RateLimited(Exception):
    """The client has sent too many new requests recently."""


class FormSpent(Exception):
    """The form's token was used by a request since deleted (erased, or past retention):
    sent again, it is not stored again (migration 0011)."""


# Asked inside the write transaction, for a new request only: may it be stored?
Admit = Callable[[aiosqlite.Connection], Awaitable[bool]]
# Asked next, for an admitted new request: does it arrive in a flood (stored, but flagged)?
Flood = Callable[[aiosqlite.Connection], Awaitable[bool]]
# Runs a write transaction and returns its result once committed (Database.write's shape).
Write = Callable[[Callable[[aiosqlite.Connection], Awaitable["Stored"]]], Awaitable["Stored"]]


@dataclass(frozen=True)
class Inserted:
    """A request just inserted, as what happens in its transaction sees it (its mails)."""

    id: int
    reference: str
    created_at: datetime
    email: str
    reply_by: datetime | None
    suspected_spam: str | None


# Run last in the insert's transaction, for a new request only (the outbox's mails).
AfterInsert = Callable[[aiosqlite.Connection, Inserted], Awaitable[None]]


def normalise_phone(raw: str) -> str | None:
    """A US (NANP) number as +1XXXXXXXXXX, or None when it cannot be one."""
    digits = re.sub(r"[\s().\-]", "", raw)
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("1"):
            return None
    if not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        return None
    return "+1" + digits


def format_phone(e164: str) -> str:
    """+15185550123 -> (518) 555-0123."""
    d = e164.removeprefix("+1")
    return f"({d[:3]}) {d[3:6]}-{d[6:]}" if len(d) == 10 else e164


def _text(values: Mapping[str, str], name: str) -> str:
    return values.get(name, "").strip()


def validate(values: Mapping[str, str]) -> tuple[Submission | None, dict[str, str]]:
    """Check a submission; return the clean request or a message per field, in form order."""
    errors: dict[str, str] = {}
    name = _text(values, "full_name")
    if not name:
        errors["full_name"] = "Enter your name."
    elif len(name) > MAX_NAME:
        errors["full_name"] = f"Your name must be {MAX_NAME} characters or fewer."
    elif CONTROL.search(name) or "\n" in name or "\r" in name or "\t" in name:
        errors["full_name"] = "Your name contains characters we can't accept."

    email = _text(values, "email")
    if email:
        if len(email) > MAX_EMAIL or not EMAIL.match(email) or ".." in email:
            errors["email"] = "Enter an email address like name@example.com."
        else:
            local, _, domain = email.rpartition("@")
            email = f"{local}@{domain.lower()}"

    raw_phone = _text(values, "phone")
    phone = ""
    if raw_phone:
        normalised = normalise_phone(raw_phone) if len(raw_phone) <= 30 else None
        if normalised is None:
            errors["phone"] = "Enter a 10-digit US phone number, like (518) 555-0123."
        else:
            phone = normalised
    if not email and not raw_phone:
        errors["email"] = "Enter an email address or a phone number, so we can reach you."

    method = values.get("contact_method", "")
    if method not in CONTACT_METHODS:
        errors["contact_method"] = "Choose how you would like us to contact you."
    elif method == "email" and not email and "email" not in errors:
        errors["contact_method"] = (
            "You chose email: add your email address, or choose a call or text."
        )
    elif method in ("call", "text") and not raw_phone and email:
        errors["contact_method"] = (
            "You chose a call or text: add your phone number, or choose email."
        )

    if values.get("best_time", "") not in BEST_TIMES:
        errors["best_time"] = "Choose the best time to reach you."

    message = values.get("message", "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(message) > MAX_MESSAGE:
        errors["message"] = (
            f"Your message must be {MAX_MESSAGE:,} characters or fewer (it has {len(message):,})."
        )
    elif CONTROL.search(message):
        errors["message"] = "Your message contains characters we can't accept."

    if values.get("consent") != "yes":
        errors["consent"] = "Tick the box to agree, so we can keep your details and contact you."

    order = {name: index for index, name in enumerate(PERSON_FIELDS)}
    errors = dict(sorted(errors.items(), key=lambda item: order[item[0]]))
    if errors:
        return None, errors
    return Submission(name, email, phone, method, values["best_time"], message), {}


def new_reference() -> str:
    """A short reference a person can read out, e.g. AKI-7F3K2."""
    return "AKI-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(5))


# Has this form token been used? Its stored request (sent again: the same answer), else a
# row of NULLs when its request was deleted since (FormSpent), else nothing. One statement.
SENT_BEFORE = (
    "SELECT reference, created_at, contact_method, reply_by FROM consultations"
    " WHERE token_id = ?"
    " UNION ALL SELECT NULL, NULL, NULL, NULL FROM spent_form_tokens WHERE token_id = ?"
    " LIMIT 1"
)
# A row given its folded search text has no trigger to index it (migration 0012): `store`
# does, after the other requests of its group commit (at_group_end), so that the group's
# requests make one index segment and not one each.
INDEX_NEW = "INSERT INTO consultations_fts (rowid, search_text, phone) VALUES (?, ?, ?)"


async def store(
    db: Database,
    request: Submission,
    token_id: str,
    now: datetime,
    admit: Admit | None = None,
    *,
    reply_by: datetime | None = None,
    signal: str | None = None,
    flood: Flood | None = None,
    after_insert: AfterInsert | None = None,
    write: Write | None = None,
) -> Stored:
    """Store a request once per form token; a repeat returns the first one's confirmation.

    `admit` runs inside the write transaction only for a new request, so a rate limit
    counts each stored request once even when many arrive together; returning False makes
    this raise RateLimited and store nothing. `signal` (automated_signal) or a `flood` that
    answers True stores the request flagged as suspected spam. `reply_by` is the promise
    the confirmation states, kept with the request. `after_insert` runs in the same
    transaction once a new request is in (so its mails exist exactly when it does).
    `write` runs the transaction (default `db.write`; the site passes its group commit,
    webapp.groupcommit, so `admit`, `flood` and `after_insert` may await only statements
    on the connection they are given).
    """
    if signal is not None and signal not in SPAM_KINDS:
        raise ValueError(f"unknown spam signal {signal!r}")
    created = utc_now_iso(now)
    promised = utc_now_iso(reply_by) if reply_by is not None else None

    async def work(conn: aiosqlite.Connection) -> Stored:
        async with conn.execute(SENT_BEFORE, (token_id, token_id)) as cursor:
            row = await cursor.fetchone()
        if row is not None and row[0] is None:
            raise FormSpent
        if row is not None:
            by = parse_utc(row[3]) if row[3] else None
            return Stored(row[0], parse_utc(row[1]), row[2], by, replayed=True)
        if admit is not None and not await admit(conn):
            raise RateLimited
        flagged = signal
        if flood is not None and await flood(conn) and flagged is None:
            flagged = "flood"
        for _ in range(10):
            reference = new_reference()
            async with conn.execute(
                "SELECT 1 FROM consultations WHERE reference = ?", (reference,)
            ) as taken:
                if await taken.fetchone() is not None:
                    continue  # a one-in-millions clash: draw another reference
            text = search.indexed_text(reference, request.full_name, request.email, request.message)
            # The id is past every id the audit trail has named: when the newest request
            # is erased or purged, SQLite would give its id to the next one, and the old
            # history would show on a stranger's request.
            cursor = await conn.execute(
                "INSERT INTO consultations (id, reference, token_id, full_name, email, phone,"
                " contact_method, best_time, message, status, consent_at, created_at,"
                " updated_at, suspected_spam, reply_by, search_text)"
                " VALUES ((SELECT 1 + max(coalesce((SELECT max(id) FROM consultations), 0),"
                " coalesce((SELECT max(consultation_id) FROM audit_log), 0))),"
                " ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?, ?)",
                (
                    reference, token_id, request.full_name, request.email, request.phone,
                    request.contact_method, request.best_time, request.message,
                    created, created, created, flagged, promised,
                    text,
                ),
            )  # fmt: skip
            row_id = int(cursor.lastrowid or 0)
            await at_group_end(conn, INDEX_NEW, (row_id, text, request.phone))
            if after_insert is not None:
                inserted = Inserted(
                    row_id, reference, parse_utc(created), request.email,
                    reply_by, flagged,
                )  # fmt: skip
                await after_insert(conn, inserted)
            return Stored(
                reference, parse_utc(created), request.contact_method, reply_by,
                suspected_spam=flagged,
            )  # fmt: skip
        raise RuntimeError("could not draw a unique reference")

    return await (write or db.write)(work)
