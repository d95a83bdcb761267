"""Who is mailed about what: staff about new requests (each one, a daily digest, or none, as
each person chooses), a visitor about their own request, an invited person about their link.

Each mail goes into the outbox inside the transaction of its reason (`after_request` runs in
the request's own insert transaction), so it exists exactly when the reason does. Suspected
spam never mails staff; a visitor flagged by the hidden field or a flood gets no
acknowledgement either (bots fill in other people's addresses; the site must not mail them),
while one flagged only for sending fast (autofill, fast hands) does, like anyone else.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import aiosqlite

from webapp import audit, outbox
from webapp.auth import Staff
from webapp.clinic import Clinic
from webapp.consultations import AfterInsert, Inserted
from webapp.db import Database, parse_utc, utc_now_iso
from webapp.invitations import Message
from webapp.jobs import Job
from webapp.mailtext import Arrival, Mail, acknowledgement, digest, new_request, request_link

CHOICES = {
    "each": "An email for each new request, as it arrives",
    "digest": "One email a day, at 7:30 AM, listing the new requests",
    "off": "No email about new requests",
}
DIGEST_AT = time(7, 30)
DIGEST_MAX = 200  # requests listed in one digest (the rest: "and N more")
NO_ACKNOWLEDGEMENT = ("honeypot", "flood")


class UnknownChoice(ValueError):
    """Not one of CHOICES."""


class Notifier:
    """Puts the right mails in the outbox for the app's events."""

    def __init__(self, db: Database, clinic: Clinic, base_url: str) -> None:
        self.db = db
        self.clinic = clinic
        self.base_url = base_url

    def after_request(self, origin: str, now: datetime) -> AfterInsert:
        """For consultations.store: the request's mails, in its insert transaction. `origin`
        is this site's address as the visitor reached it (BASE_URL wins when set)."""
        base = self.base_url or origin

        async def enqueue(conn: aiosqlite.Connection, row: Inserted) -> None:
            await self.on_request(conn, row, now, base)

        return enqueue

    async def on_request(
        self, conn: aiosqlite.Connection, row: Inserted, now: datetime, base: str
    ) -> None:
        """Staff mail for a request that is not suspected spam; the visitor's acknowledgement."""
        tz = self.clinic.schedule.tz
        if row.suspected_spam is None:
            arrival = Arrival(row.reference, row.created_at, request_link(base, row.id))
            mail = new_request(self.clinic.name, arrival, tz, base)
            async with conn.execute(
                "SELECT id, email FROM staff WHERE active = 1 AND request_mail = 'each'"
            ) as cursor:
                people = await cursor.fetchall()
            for staff_id, email in people:
                await outbox.enqueue(
                    conn,
                    outbox.Outgoing(
                        "new_request", f"new:{row.id}:{staff_id}", email, mail,
                        consultation_id=row.id, staff_id=staff_id,
                    ),
                    now,
                )  # fmt: skip
        if row.email and row.suspected_spam not in NO_ACKNOWLEDGEMENT:
            ack = acknowledgement(
                self.clinic.name, row.reference, row.created_at, row.reply_by, tz,
                self.clinic.phone,
            )  # fmt: skip
            await outbox.enqueue(
                conn,
                outbox.Outgoing(
                    "acknowledgement", f"ack:{row.id}", row.email, ack, consultation_id=row.id
                ),
                now,
            )

    async def invitation(
        self,
        conn: aiosqlite.Connection,
        invitation_id: int,
        email: str,
        message: Message,
        now: datetime,
    ) -> None:
        """An invitation's link, mailed (in the invitation's transaction); its body is
        blanked once sent, so the database keeps no live link."""
        item = outbox.Outgoing(
            "invitation", f"invitation:{invitation_id}", email, Mail(message.subject, message.body)
        )
        await outbox.enqueue(conn, item, now)

    async def send_digests(self, now: datetime) -> str:
        """Everyone on the daily digest gets the requests received since their last one."""
        tz = self.clinic.schedule.tz
        today = now.astimezone(tz).date()

        async def work(conn: aiosqlite.Connection) -> int:
            async with conn.execute(
                "SELECT id, email, digest_through FROM staff"
                " WHERE active = 1 AND request_mail = 'digest'"
            ) as cursor:
                people = await cursor.fetchall()
            queued = 0
            for staff_id, email, through in people:
                since = through or utc_now_iso(now - timedelta(days=1))
                async with conn.execute(
                    "SELECT id, reference, created_at FROM consultations WHERE created_at > ?"
                    " AND created_at <= ? AND suspected_spam IS NULL ORDER BY id LIMIT ?",
                    (since, utc_now_iso(now), DIGEST_MAX),
                ) as cursor:
                    found = await cursor.fetchall()
                await conn.execute(
                    "UPDATE staff SET digest_through = ? WHERE id = ?",
                    (utc_now_iso(now), staff_id),
                )
                if not found:
                    continue
                arrivals = [
                    Arrival(r[1], parse_utc(r[2]), request_link(self.base_url, r[0])) for r in found
                ]
                mail = digest(self.clinic.name, today, arrivals, tz, self.base_url)
                key = f"digest:{staff_id}:{today.isoformat()}"
                item = outbox.Outgoing("digest", key, email, mail, staff_id=staff_id)
                queued += int(await outbox.enqueue(conn, item, now))
            return queued

        queued = await self.db.write(work)
        return f"{queued} digest(s) queued"

    def digest_job(self) -> Job:
        """The daily digest, at 7:30 AM clinic time (before the clinic opens)."""
        return Job("mail-digest", self.send_digests, daily_at=DIGEST_AT)


def outbox_prune_job(db: Database) -> Job:
    """Forget mail finished over 30 days ago, daily."""

    async def run(now: datetime) -> str:
        return f"{await outbox.prune(db, now)} finished mail(s) forgotten"

    return Job("outbox-prune", run, daily_at=time(3, 50))


async def request_mail_choice(db: Database, staff_id: int) -> str:
    """A person's choice of new-request mail."""
    row = await db.fetchone("SELECT request_mail FROM staff WHERE id = ?", (staff_id,))
    return str(row[0]) if row else "off"


async def set_request_mail(db: Database, staff: Staff, choice: str, now: datetime) -> bool:
    """Change one's new-request mail (audited); False when it was already so."""
    if choice not in CHOICES:
        raise UnknownChoice(choice)

    async def work(conn: aiosqlite.Connection) -> bool:
        async with conn.execute(
            "SELECT request_mail FROM staff WHERE id = ?", (staff.id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] == choice:
            return False
        # A digest starts from now: what came before was mailed already (or not wanted).
        await conn.execute(
            "UPDATE staff SET request_mail = ?, digest_through = ?, updated_at = ? WHERE id = ?",
            (choice, utc_now_iso(now), utc_now_iso(now), staff.id),
        )
        await audit.record(
            conn, now, staff.email, "mail_preference", staff_id=staff.id,
            detail=f"{row[0]} → {choice}",
        )  # fmt: skip
        return True

    return await db.write(work)
