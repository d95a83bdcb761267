"""A request's mails under group commit (webapp/groupcommit.py): the site stores requests
arriving together in one shared transaction, each in a savepoint, with the notifier's
`after_request` running inside it. Each stored request has exactly its mails; a request
refused or failing inside the group leaves neither its row nor a mail; a token sent twice
in one group is one request with one set of mails; and the mails go out once each through
a real SMTP server (aiosmtpd), even with two senders on the database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.smtp import MailServer
from webapp import auth
from webapp.clinic import load_clinic
from webapp.consultations import RateLimited, Submission, store
from webapp.db import Database
from webapp.groupcommit import GroupCommit
from webapp.mailer import Mailer
from webapp.notifications import Notifier

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
STAFF = ("nurse@example.org", "doctor@example.org")


class Clock:
    def __call__(self) -> datetime:
        return NOW


def person(index: int) -> Submission:
    return Submission(f"Visitor Zq{index}", f"visitor{index}@example.net", "", "email", "any",
                      f"private words {index}")  # fmt: skip


def rows(path: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.anyio
async def test_grouped_requests_each_get_exactly_their_mails_and_are_sent_once(db_path):
    server = MailServer().start()
    db, second = Database(db_path), Database(db_path)
    await db.open()
    await second.open()
    try:
        hasher = auth.Hasher(fast=True)
        for email in STAFF:
            await auth.create_staff(db, email, hasher.hash_sync("violet-harbor-teapot-42"), NOW)
        clinic = load_clinic(make_settings(db_path.parent).clinic_file)
        notifier = Notifier(db, clinic, "https://clinic.example")
        group = GroupCommit(db)

        def admit(index: int):
            async def check(conn) -> bool:
                return index % 5 != 0  # every fifth is refused: nothing of it stays

            return check

        def after(index: int):
            enqueue = notifier.after_request("https://clinic.example", NOW)

            async def run(conn, inserted) -> None:
                await enqueue(conn, inserted)
                if index % 7 == 3:  # its mails are queued, then the request fails
                    raise ValueError("failed after queueing its mails")

            return run

        results = await asyncio.gather(
            *(
                store(
                    db,
                    person(i),
                    f"token-{i}",
                    NOW,
                    admit(i),
                    after_insert=after(i),
                    write=group.write,
                )  # fmt: skip
                for i in range(60)
            ),
            # The same form sent again while the first is in the same group: one request.
            *(
                store(db, person(1), "token-1", NOW, after_insert=after(1), write=group.write)
                for _ in range(5)
            ),
            return_exceptions=True,
        )
        assert group.transactions < group.writes  # they were grouped
        refused = [r for r in results if isinstance(r, RateLimited)]
        failed = [r for r in results if isinstance(r, ValueError)]
        kept = {i for i in range(60) if i % 5 != 0 and i % 7 != 3}
        assert len(refused) == 12 and len(failed) == len([i for i in range(60) if i % 5 and
                                                          i % 7 == 3])  # fmt: skip
        stored = rows(db_path, "SELECT id, token_id FROM consultations")
        assert {token for _, token in stored} == {f"token-{i}" for i in kept}
        # Exactly three mails per stored request (two staff, one visitor), none for others.
        per_request = Counter(cid for (cid,) in rows(db_path, "SELECT consultation_id FROM outbox"))
        assert set(per_request) == {cid for cid, _ in stored}
        assert set(per_request.values()) == {3}
        acknowledged = {r for (r,) in rows(db_path, "SELECT recipient FROM outbox WHERE kind ="
                                                    " 'acknowledgement'")}  # fmt: skip
        assert acknowledged == {f"visitor{i}@example.net" for i in kept}

        # Two senders on the one database (two worker processes): each mail goes out once.
        senders = [Mailer(d, Clock(), server.settings()) for d in (db, second)]
        await asyncio.gather(*(sender.deliver_due() for sender in senders))
        await asyncio.gather(*(sender.deliver_due() for sender in senders))
        expected = 3 * len(kept)
        assert len(server.received) == expected
        assert len({d.message["Message-ID"] for d in server.received}) == expected
        assert len({(d.recipients[0], d.message["Subject"]) for d in server.received}) == expected
        assert rows(db_path, "SELECT state, count(*) FROM outbox GROUP BY state") == [
            ("sent", expected)
        ]
        for delivered in server.received:  # nothing the visitors typed, in any mail
            assert b"Zq" not in delivered.raw and b"private words" not in delivered.raw
    finally:
        await db.close()
        await second.close()
        server.stop()
