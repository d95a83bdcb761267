"""What each mail says (pure): a reference, when it came and a link; never what a visitor
typed, and no health information, in the subject or the body.

Staff are told that a request arrived (one mail per request, or a daily digest); a visitor
who gave an email address is told that their request was received and by when the team will
reply. Who gets which mail is webapp/notifications.py; the outbox and its sender, outbox.py and
mailer.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from webapp.hours import TZ_LABEL, format_date, format_reply_by, format_time


@dataclass(frozen=True)
class Mail:
    """A subject and a plain-text body."""

    subject: str
    body: str


@dataclass(frozen=True)
class Arrival:
    """One request as a staff mail names it: its reference, when it came, where to open it."""

    reference: str
    received: datetime
    link: str


def when(instant: datetime, tz: ZoneInfo) -> str:
    """ "Tuesday, December 1 at 10:30 AM ET", in the clinic's zone."""
    local = instant.astimezone(tz)
    return f"{format_date(local.date(), year=False)} at {format_time(local.time())} {TZ_LABEL}"


def request_link(base: str, consultation_id: int) -> str:
    """The staff page of a request (base: BASE_URL or the site's own origin; may be '')."""
    return f"{base.rstrip('/')}/staff/requests/{consultation_id}"


def account_link(base: str) -> str:
    """Where a person changes which mail they get."""
    return f"{base.rstrip('/')}/staff/account#mail"


_PRIVATE = "For privacy this email holds no details of the request: sign in to read it."


def new_request(clinic_name: str, arrival: Arrival, tz: ZoneInfo, base: str) -> Mail:
    """To each member of staff who wants every request as it arrives."""
    return Mail(
        subject=f"New consultation request {arrival.reference}",
        body=(
            f"A new consultation request came in through {clinic_name}'s website on "
            f"{when(arrival.received, tz)}.\n\n"
            f"Reference: {arrival.reference}\n"
            f"Open it: {arrival.link}\n\n"
            f"{_PRIVATE}\n\n"
            f"To get these emails as a daily digest, or not at all: {account_link(base)}\n"
        ),
    )


def digest(
    clinic_name: str, day: date, arrivals: Sequence[Arrival], tz: ZoneInfo, base: str
) -> Mail:
    """To each member of staff who chose one mail a day: every request since the last one."""
    count = len(arrivals)
    lines = "\n".join(f"- {a.reference}, {when(a.received, tz)}: {a.link}" for a in arrivals)
    plural = "" if count == 1 else "s"
    return Mail(
        subject=f"{count} new consultation request{plural} ({format_date(day, year=False)})",
        body=(
            f"{count} consultation request{plural} came in through {clinic_name}'s website "
            f"since the last digest:\n\n{lines}\n\n"
            f"{_PRIVATE}\n\n"
            f"To get an email for each request instead, or none: {account_link(base)}\n"
        ),
    )


def acknowledgement(
    clinic_name: str,
    reference: str,
    received: datetime,
    reply_by: datetime | None,
    tz: ZoneInfo,
    phone: str = "",
) -> Mail:
    """To a visitor who gave an email address: the reference and the promised reply time,
    none of what they wrote (the subject names neither the clinic nor why they wrote)."""
    promise = format_reply_by(reply_by, tz)
    change = (
        f"To change or add anything, call us at {phone} and mention your reference."
        if phone
        else "To change or add anything, send us a new request and mention your reference."
    )
    return Mail(
        subject=f"We received your request ({reference})",
        body=(
            f"Thank you for contacting {clinic_name}. We received your request on "
            f"{when(received, tz)}.\n\n"
            f"Your reference is {reference}.\n"
            f"We will reply {promise}.\n\n"
            f"{change}\n\n"
            "If you are in crisis, call or text 988 (Suicide & Crisis Lifeline). "
            "In an emergency, call 911.\n\n"
            "If you did not send this request, you can ignore this email.\n"
        ),
    )


def test_mail(clinic_name: str, now: datetime, tz: ZoneInfo) -> Mail:
    """`python -m webapp send-test-mail`: proof that mail gets out."""
    return Mail(
        subject=f"Test email from {clinic_name}'s website",
        body=(
            f"This is a test sent on {when(now, tz)} with `python -m webapp send-test-mail`.\n"
            "If you can read it, the website can send email.\n"
        ),
    )
