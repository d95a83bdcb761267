"""Sending the outbox over SMTP, in the site's own process.

The standard library's smtplib, run in a worker thread: no dependency for a few mails a day,
and it speaks STARTTLS, implicit TLS and AUTH. A loop wakes when a row is added (`wake()`,
called after the transaction that added it) and every POLL seconds besides, so retries
happen on time and rows left by a stopped process are picked up; every decision about time
uses the app's clock, so tests move it instead of waiting. SMTP_PASSWORD is never logged,
and no log line names a recipient.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import anyio

from webapp import outbox
from webapp.clock import Clock
from webapp.db import Database, checkpoint
from webapp.mailtext import Mail
from webapp.settings import SmtpSettings

log = logging.getLogger(__name__)
POLL = 15.0  # seconds, real time: how often the loop looks for due retries


class Permanent(Exception):
    """The server refused this one message for good (an unknown recipient, say)."""


@dataclass(frozen=True)
class Envelope:
    """One message to hand to the server."""

    row_id: int
    message: EmailMessage


# Returns, per message, None (accepted) or the exception it met; raises when the server
# could not be reached or refused the session (every message then waits for the next try).
Transport = Callable[[SmtpSettings, Sequence[Envelope]], list[Exception | None]]


def domain_of(mail_from: str) -> str:
    """The domain of MAIL_FROM's address (the right side of every Message-ID)."""
    return parseaddr(mail_from)[1].rpartition("@")[2].lower() or "localhost"


def build(smtp: SmtpSettings, to: str, mail: Mail, message_id: str, date: str) -> EmailMessage:
    """A plain-text message with the row's Message-ID (the same on every try)."""
    message = EmailMessage()
    message["From"] = smtp.mail_from
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = date
    message["Message-ID"] = message_id
    # An automatic message (RFC 3834): auto-responders should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message


def smtp_send(smtp: SmtpSettings, envelopes: Sequence[Envelope]) -> list[Exception | None]:
    """Deliver over one SMTP session (blocking: run it in a thread)."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.tls == "tls":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        client.ehlo()
        if smtp.tls == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.username:
            client.login(smtp.username, str(smtp.password))
        results: list[Exception | None] = []
        for index, envelope in enumerate(envelopes):
            try:
                client.send_message(envelope.message)
                results.append(None)
            except smtplib.SMTPRecipientsRefused as refused:
                codes = [code for code, _ in refused.recipients.values()]
                permanent = bool(codes) and all(code >= 500 for code in codes)
                text = f"the server refused the recipient (SMTP {codes[0] if codes else '?'})"
                results.append(Permanent(text) if permanent else refused)
            except smtplib.SMTPDataError as refused:
                text = f"the server refused the message (SMTP {refused.smtp_code})"
                results.append(Permanent(text) if refused.smtp_code >= 500 else refused)
            except smtplib.SMTPServerDisconnected as gone:
                # This one and the rest wait for their next try; those before were accepted.
                results.extend([gone] * (len(envelopes) - index))
                break
            except (smtplib.SMTPException, OSError) as exc:
                results.append(exc)
        return results
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def describe(exc: BaseException) -> str:
    """An error in words for staff and logs (never the password; addresses are removed)."""
    if isinstance(exc, Permanent):
        return str(exc)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the mail server refused SMTP_USERNAME/SMTP_PASSWORD (SMTP {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error
        text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
        return f"SMTP {exc.smtp_code}: {text}"
    if isinstance(exc, ConnectionRefusedError):
        return "the mail server refused the connection"
    if isinstance(exc, TimeoutError):
        return "the mail server did not answer in time"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or type(exc).__name__}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Mailer:
    """Sends what the outbox holds; one per app."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        smtp: SmtpSettings | None,
        transport: Transport = smtp_send,
    ) -> None:
        self.db = db
        self.clock = clock
        self.smtp = smtp
        self.transport = transport
        self._wake: asyncio.Event | None = None

    @property
    def configured(self) -> bool:
        """SMTP_HOST is set: mail can be sent."""
        return self.smtp is not None

    def wake(self) -> None:
        """A row was added: look now rather than at the next poll (nothing to do without a
        mail server)."""
        if self._wake is not None and self.configured:
            self._wake.set()

    async def deliver_due(self) -> tuple[int, int]:
        """Send every row due now (in batches); (sent, failed tries). Gives up rows past
        their day first. Nothing is sent while SMTP_HOST is unset. Writes only when there
        is something to do: a read finds out first (the site's one writer is for requests)."""
        now = self.clock()
        if await outbox.anything_late(self.db, now):
            await outbox.tidy(self.db, now, configured=self.configured)
        sent = failed = 0
        if self.smtp is None:
            return sent, failed
        while True:
            if not await outbox.anything_due(self.db, self.clock()):
                return sent, failed
            claimed = await outbox.claim(self.db, self.clock())
            if not claimed:
                return sent, failed
            batch_sent, batch_failed = await self._send(self.smtp, claimed)
            sent += batch_sent
            failed += batch_failed
            if batch_sent == 0:
                return sent, failed  # the server is down: the rest waits for its next try

    async def _send(self, smtp: SmtpSettings, claimed: list[outbox.Claimed]) -> tuple[int, int]:
        domain = domain_of(smtp.mail_from)
        date = format_datetime(self.clock())
        envelopes = [
            Envelope(
                row.id,
                build(
                    smtp,
                    row.recipient,
                    Mail(row.subject, row.body),
                    outbox.message_id(row.message_token, domain),
                    date,
                ),
            )  # fmt: skip
            for row in claimed
        ]
        try:
            results = await anyio.to_thread.run_sync(self.transport, smtp, envelopes)
        except Exception as exc:  # the server cannot be reached: every row tries again later
            error = describe(exc)
            for row in claimed:
                await outbox.mark_failed(self.db, row.id, self.clock(), error)
            log.warning("mail: %d message(s) not sent: %s", len(claimed), outbox.clean_error(error))
            return 0, len(claimed)
        sent = failed = 0
        for row, result in zip(claimed, results, strict=True):
            now = self.clock()
            if result is None:
                await outbox.mark_sent(self.db, row.id, now)
                sent += 1
                continue
            failed += 1
            again = await outbox.mark_failed(
                self.db, row.id, now, describe(result), permanent=isinstance(result, Permanent)
            )
            log.warning(
                "mail #%d (%s) %s: %s", row.id, row.kind,
                "will be tried again" if again else "given up",
                outbox.clean_error(describe(result)),
            )  # fmt: skip
        if sent:
            log.info("mail: %d message(s) sent", sent)
        if any(row.kind == "invitation" for row in claimed):
            # The live link is gone from its row: let it leave the write-ahead log too.
            await anyio.to_thread.run_sync(checkpoint, self.db.path)
        return sent, failed

    async def run_forever(self, poll: float = POLL) -> None:
        """Deliver at start-up, whenever woken, and every `poll` seconds, until cancelled."""
        self._wake = asyncio.Event()
        failing = False
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
                failing = False
            except Exception as exc:  # the database may be unwritable for a while
                if not failing:
                    log.warning("mail: the outbox cannot be read: %s", type(exc).__name__)
                failing = True
            with anyio.move_on_after(poll):
                await self._wake.wait()


async def send_one(
    smtp: SmtpSettings, to: str, mail: Mail, now: datetime, transport: Transport = smtp_send
) -> None:
    """Send one message at once, outside the outbox (send-test-mail); raises what failed."""
    token = outbox.message_token(now)
    message = build(
        smtp, to, mail, outbox.message_id(token, domain_of(smtp.mail_from)), format_datetime(now)
    )
    [result] = await anyio.to_thread.run_sync(transport, smtp, [Envelope(0, message)])
    if result is not None:
        raise result
