"""Mail that surely arrives, through a real SMTP server (aiosmtpd): each request mails staff
and acknowledges the visitor, once; the server down and back, the site restarted between,
two workers at once, a crash between sending and recording; no visitor text in any mail."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import ssl
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from tests.conftest import FakeClock, make_settings
from tests.helpers import (
    CSRF_FIELD,
    HX,
    add_staff,
    form,
    login,
    new_token,
    query,
    reference_in,
    words,
)
from tests.smtp import FROM, MailServer, self_signed
from webapp import mailer as mailer_module
from webapp import outbox
from webapp.app import create_app
from webapp.consultations import Submission, store
from webapp.db import Database, migrate, parse_utc, utc_now_iso
from webapp.mailer import Mailer, smtp_send
from webapp.mailtext import Mail

NURSE, DOCTOR, DIGEST, QUIET, GONE = (
    "nurse@example.org", "doctor@example.org", "digest@example.org", "quiet@example.org",
    "gone@example.org",
)  # fmt: skip
PASSWORD = "violet-harbor-teapot-42"
# What the visitor typed (tests.helpers.VALID): none of it may be in a staff mail; only the
# address, as the acknowledgement's recipient, in theirs.
VISITOR_TEXT = ("Ada Lovelace", "Lovelace", "antidepressants", "ketamine help", "555-0123",
                "5550123", "555 0123", "(518)")  # fmt: skip
VISITOR_EMAIL = "ada@example.com"


def execute(client: TestClient, sql: str, params: tuple = ()) -> None:
    with closing(sqlite3.connect(client.app.ctx.settings.database_path)) as conn, conn:
        conn.execute(sql, params)


def deliver(client: TestClient) -> tuple[int, int]:
    return client.portal.call(client.app.ctx.mailer.deliver_due)


def mails(client: TestClient) -> list[dict]:
    return [dict(r) for r in query(client, "SELECT * FROM outbox ORDER BY id")]


def people(client: TestClient) -> None:
    """Two want each request, one a digest, one no mail, one is disabled."""
    for email in (NURSE, DOCTOR, DIGEST, QUIET, GONE):
        add_staff(client, email, PASSWORD)
    execute(client, "UPDATE staff SET request_mail = 'digest' WHERE email = ?", (DIGEST,))
    execute(client, "UPDATE staff SET request_mail = 'off' WHERE email = ?", (QUIET,))
    execute(client, "UPDATE staff SET active = 0 WHERE email = ?", (GONE,))


def send_request(client: TestClient, clock: FakeClock, **changes: str) -> str:
    response = client.post("/consultation", data=form(new_token(client, clock), **changes),
                           headers=HX)  # fmt: skip
    assert response.status_code == 200, response.text
    return reference_in(response.text)


def app_for(tmp: Path, clock: FakeClock, server: MailServer | None, **changes) -> TestClient:
    settings = make_settings(tmp, smtp=server.settings(**changes) if server else None)
    return TestClient(create_app(settings, clock=clock), base_url="http://testserver")


@pytest.fixture
def server() -> Iterator[MailServer]:
    running = MailServer().start()
    yield running
    running.stop()


@pytest.fixture
def down() -> MailServer:
    """The mail server's address, with nothing listening there yet."""
    return MailServer()


@pytest.fixture
def site(tmp_path, clock, server) -> Iterator[TestClient]:
    with app_for(tmp_path, clock, server) as client:
        people(client)
        yield client


def assert_no_visitor_text(raw: bytes, *, staff: bool) -> None:
    text = raw.decode("utf-8", "replace")
    if not staff:  # the visitor's own address is where their acknowledgement goes, only there
        text = re.sub(r"(?im)^To: .*$", "", text)
        assert VISITOR_EMAIL not in text.lower()
    for typed in VISITOR_TEXT:
        assert typed.lower() not in text.lower(), typed
    if staff:
        assert VISITOR_EMAIL not in text.lower()


# --- delivery ----------------------------------------------------------------------------------


def test_a_request_mails_staff_and_acknowledges_the_visitor_once(site, clock, server):
    reference = send_request(site, clock)
    [request_id] = [r["id"] for r in query(site, "SELECT id FROM consultations")]
    queued = mails(site)
    # Written with the request: one per person who wants each request, and the visitor's.
    assert sorted((m["kind"], m["recipient"], m["state"]) for m in queued) == [
        ("acknowledgement", "Ada@example.com", "queued"),
        ("new_request", DOCTOR, "queued"),
        ("new_request", NURSE, "queued"),
    ]
    assert {m["consultation_id"] for m in queued} == {request_id}

    assert deliver(site) == (3, 0)
    received = {d.recipients[0]: d for d in server.received}
    assert sorted(received) == ["Ada@example.com", DOCTOR, NURSE]
    for to in (NURSE, DOCTOR):
        message = received[to].message
        assert message["Subject"] == f"New consultation request {reference}"
        assert message["From"] == FROM
        assert message["Auto-Submitted"] == "auto-generated"
        body = message.get_payload(decode=True).decode()
        assert reference in body
        assert f"http://testserver/staff/requests/{request_id}" in body
        assert "Tuesday, December 1 at 10:30 AM ET" in body
        assert_no_visitor_text(received[to].raw, staff=True)
    ack = received["Ada@example.com"].message
    assert ack["Subject"] == f"We received your request ({reference})"
    body = ack.get_payload(decode=True).decode()
    assert reference in body and "by Tuesday, December 1, 5:00 PM ET" in body
    assert "988" in body
    assert_no_visitor_text(received["Ada@example.com"].raw, staff=False)
    # Each message carries its row's Message-ID; the rows are done, the visitor's address gone.
    ids = {m["recipient"] or "visitor": m["message_id"] for m in mails(site)}
    for to, delivered in received.items():
        key = "visitor" if to == "Ada@example.com" else to
        assert delivered.message["Message-ID"] == f"<{ids[key]}@clinic.example>"
    assert {m["state"] for m in mails(site)} == {"sent"}
    assert [m["recipient"] for m in mails(site) if m["kind"] == "acknowledgement"] == [""]

    assert deliver(site) == (0, 0)  # nothing twice
    assert len(server.received) == 3
    # Staff see it on the request's page.
    assert login(site, NURSE, PASSWORD).status_code == 303
    page = words(site.get(f"/staff/requests/{request_id}").text)
    assert f"New-request email to {NURSE}: Sent at Dec 1, 10:30 AM ET" in page
    assert "Acknowledgement to the visitor (to the email address given): Sent" in page
    assert "Email is failing" not in page and "not set up" not in page


def test_no_mail_about_suspected_spam_and_no_acknowledgement_to_bots(site, clock, server):
    send_request(site, clock, website="http://bot.example", email="victim@example.net")
    assert mails(site) == []  # the hidden field filled in: nobody is mailed
    fast = form(new_token(site, clock, wait=0.5), email="fast@example.net")
    response = site.post("/consultation", data=fast, headers=HX)
    assert response.status_code == 200
    # Sent within seconds (autofill, fast hands): the person is acknowledged, staff are not.
    assert [(m["kind"], m["recipient"]) for m in mails(site)] == [
        ("acknowledgement", "fast@example.net")
    ]
    assert deliver(site) == (1, 0)
    assert [d.recipients for d in server.received] == [["fast@example.net"]]


def test_a_request_without_an_email_address_is_not_acknowledged(site, clock):
    send_request(site, clock, email="")
    assert sorted(m["kind"] for m in mails(site)) == ["new_request", "new_request"]


def test_the_mails_and_the_request_are_one_transaction(tmp_path, clock):
    migrate(tmp_path / "one.db")

    async def scenario() -> tuple[int, int]:
        db = Database(tmp_path / "one.db")
        await db.open()
        try:

            async def fail(conn, inserted):
                item = outbox.Outgoing("acknowledgement", "ack:x", "a@example.org", Mail("s", "b"))
                await outbox.enqueue(conn, item, clock())
                raise RuntimeError("the disk filled up")

            submission = Submission("Ann", "a@example.org", "", "email", "any", "")
            with pytest.raises(RuntimeError):
                await store(db, submission, "token-1", clock(), after_insert=fail)
            stored = await db.fetchone("SELECT count(*) FROM consultations")
            queued = await db.fetchone("SELECT count(*) FROM outbox")
            return stored[0], queued[0]
        finally:
            await db.close()

    assert asyncio.run(scenario()) == (0, 0)


# --- the server down, then up; a restart in between ---------------------------------------------


def test_the_server_down_then_up_with_a_restart_in_between(tmp_path, clock, down):
    with app_for(tmp_path, clock, down) as first:
        people(first)
        reference = send_request(first, clock)
        assert deliver(first) == (0, 3)
        queued = mails(first)
        assert {m["state"] for m in queued} == {"queued"}
        assert {m["attempts"] for m in queued} == {1}
        assert {m["last_error"] for m in queued} == {"the mail server refused the connection"}
        # Staff are told: a banner, and each mail's state on the request's page.
        assert login(first, NURSE, PASSWORD).status_code == 303
        banner = words(first.get("/staff").text)
        assert "Email is failing: 3 emails not delivered" in banner
        assert "the mail server refused the connection" in banner
        page = words(first.get(f"/staff/requests/{queued[0]['consultation_id']}").text)
        assert "failing (the mail server refused the connection); tried 1 time" in page
        # Not again before its minute is up; then again (still down).
        clock.advance(seconds=30)
        assert deliver(first) == (0, 0)
        clock.advance(seconds=31)
        assert deliver(first) == (0, 3)
        assert {m["attempts"] for m in mails(first)} == {2}
    # The site stops; the mail server comes back; the site starts again on the same database.
    down.start()
    try:
        clock.advance(minutes=1)
        with app_for(tmp_path, clock, down) as second:
            assert deliver(second) == (3, 0)
            assert deliver(second) == (0, 0)
            assert {m["state"] for m in mails(second)} == {"sent"}
            assert login(second, NURSE, PASSWORD).status_code == 303
            assert "Email is failing" not in words(second.get("/staff").text)
        received = down.received
        assert sorted(d.recipients[0] for d in received) == ["Ada@example.com", DOCTOR, NURSE]
        assert len({d.message["Message-ID"] for d in received}) == 3
        assert all(reference in d.message["Subject"] for d in received)
    finally:
        down.stop()


def test_after_a_day_of_failures_a_mail_is_given_up(tmp_path, clock, down):
    with app_for(tmp_path, clock, down) as client:
        add_staff(client, NURSE, PASSWORD)
        send_request(client, clock, email="")
        start = clock()
        tries = 0
        while True:
            _, failed = deliver(client)
            tries += failed
            [row] = mails(client)
            if row["state"] != "queued":
                break
            clock.set(parse_utc(row["next_attempt_at"]))
        assert row["state"] == "failed"
        assert row["last_error"] == "the mail server refused the connection"
        assert clock() - start <= timedelta(days=1, minutes=1)
        assert tries >= 10 + 23  # every minute for ten minutes, then at least hourly
        assert login(client, NURSE, PASSWORD).status_code == 303
        page = words(client.get(f"/staff/requests/{row['consultation_id']}").text)
        # (words() reads the closing tag of "Not delivered" as a space.)
        assert f"New-request email to {NURSE}: Not delivered : the mail server refused" in page


def test_a_refused_recipient_is_given_up_at_once(site, clock, server):
    server.handler.refuse.add("ada@example.com")
    send_request(site, clock)
    assert deliver(site) == (2, 1)
    [ack] = [m for m in mails(site) if m["kind"] == "acknowledgement"]
    assert ack["state"] == "failed" and ack["attempts"] == 1
    assert ack["last_error"] == "the server refused the recipient (SMTP 550)"
    assert ack["recipient"] == ""  # the address is not kept once the mail is done
    clock.advance(minutes=5)
    assert deliver(site) == (0, 0)


def test_nothing_is_sent_while_smtp_host_is_unset(tmp_path, clock, down):
    with app_for(tmp_path, clock, None) as client:
        people(client)
        send_request(client, clock)
        assert deliver(client) == (0, 0)
        assert {(m["state"], m["attempts"]) for m in mails(client)} == {("queued", 0)}
        assert login(client, NURSE, PASSWORD).status_code == 303
        text = words(client.get("/staff").text)
        assert "Email is not set up on this server (SMTP_HOST)" in text
        assert "3 emails are waiting: sent once it is set up, or dropped after a day" in text
        request_id = mails(client)[0]["consultation_id"]
        assert "mail is not set up on this server" in words(
            client.get(f"/staff/requests/{request_id}").text
        )
    # Set up within the day: what waited goes out.
    down.start()
    try:
        clock.advance(hours=3)
        with app_for(tmp_path, clock, down) as client:
            assert deliver(client) == (3, 0)
    finally:
        down.stop()


def test_unsent_mail_without_a_server_is_dropped_after_a_day(tmp_path, clock):
    with app_for(tmp_path, clock, None) as client:
        people(client)
        send_request(client, clock)
        clock.advance(days=1, seconds=1)
        deliver(client)
        assert {(m["state"], m["last_error"]) for m in mails(client)} == {
            ("failed", outbox.NOT_CONFIGURED)
        }


def test_staff_disabled_or_quiet_before_sending_get_nothing(site, clock, server):
    send_request(site, clock)
    execute(site, "UPDATE staff SET active = 0 WHERE email = ?", (DOCTOR,))
    assert deliver(site) == (2, 0)
    assert sorted(d.recipients[0] for d in server.received) == ["Ada@example.com", NURSE]
    assert {m["recipient"]: m["state"] for m in mails(site)}[DOCTOR] == "cancelled"


# --- exactly once -------------------------------------------------------------------------------


def _queue(path: Path, clock: FakeClock, count: int) -> None:
    migrate(path)

    async def fill() -> None:
        db = Database(path)
        await db.open()
        try:

            async def work(conn):
                for n in range(count):
                    item = outbox.Outgoing("test", f"test:{n}", f"p{n}@example.org",
                                           Mail(f"Test {n}", "body"))  # fmt: skip
                    await outbox.enqueue(conn, item, clock())

            await db.write(work)
        finally:
            await db.close()

    asyncio.run(fill())


def test_two_workers_send_each_message_once(tmp_path, clock, server):
    path = tmp_path / "shared.db"
    _queue(path, clock, 40)

    async def both() -> list[tuple[int, int]]:
        dbs = [Database(path), Database(path)]
        for db in dbs:
            await db.open()
        try:
            workers = [Mailer(db, clock, server.settings()) for db in dbs]
            return await asyncio.gather(*(w.deliver_due() for w in workers))
        finally:
            for db in dbs:
                await db.close()

    results = asyncio.run(both())
    assert sum(sent for sent, _ in results) == 40
    subjects = [d.message["Subject"] for d in server.received]
    assert sorted(subjects) == sorted(f"Test {n}" for n in range(40))
    assert len({d.message["Message-ID"] for d in server.received}) == 40


def test_a_claim_left_by_a_stopped_worker_waits_for_its_lease(tmp_path, clock, server):
    path = tmp_path / "leased.db"
    _queue(path, clock, 3)

    async def scenario() -> list[tuple[int, int]]:
        db = Database(path)
        await db.open()
        try:
            claimed = await outbox.claim(db, clock())  # a worker takes them, then is killed
            assert len(claimed) == 3
            worker = Mailer(db, clock, server.settings())
            results = [await worker.deliver_due()]
            clock.advance(minutes=9)
            results.append(await worker.deliver_due())
            clock.advance(minutes=1, seconds=1)  # the lease is over
            results.append(await worker.deliver_due())
            return results
        finally:
            await db.close()

    assert asyncio.run(scenario()) == [(0, 0), (0, 0), (3, 0)]
    assert len(server.received) == 3


def test_a_crash_between_sending_and_recording_resends_the_same_message_id(site, clock, server):
    send_request(site, clock, email="")
    calls = []

    def sends_then_dies(smtp, envelopes):
        calls.append(len(envelopes))
        smtp_send(smtp, envelopes)
        if len(calls) == 1:
            raise ConnectionResetError("the connection broke after the server took the mail")
        return [None] * len(envelopes)

    site.app.ctx.mailer.transport = sends_then_dies
    assert deliver(site) == (0, 2)
    clock.advance(minutes=1)
    assert deliver(site) == (2, 0)
    # The server got each twice, with the same Message-ID: one message to the receiving side.
    by_id: dict[str, list[str]] = {}
    for delivered in server.received:
        by_id.setdefault(delivered.message["Message-ID"], []).append(delivered.recipients[0])
    assert sorted(by_id.values()) == [[DOCTOR, DOCTOR], [NURSE, NURSE]]


# --- the server's login and TLS -----------------------------------------------------------------


def test_smtp_login_and_the_password_stays_out_of_the_logs(tmp_path, clock, caplog):
    secret = "s3cret-smtp-password-xyz"
    server = MailServer(login=("mailer", secret)).start()
    try:
        wrong = Secret("wrong-password")
        with app_for(tmp_path, clock, server, username="mailer", password=wrong) as client:
            add_staff(client, NURSE, PASSWORD)
            caplog.set_level(logging.DEBUG)
            send_request(client, clock, email="")
            assert deliver(client) == (0, 1)
            [row] = mails(client)
            assert row["last_error"].startswith(
                "the mail server refused SMTP_USERNAME/SMTP_PASSWORD (SMTP 535)"
            )
        clock.advance(minutes=1)
        with app_for(tmp_path, clock, server, username="mailer", password=Secret(secret)) as client:
            assert deliver(client) == (1, 0)
        assert server.logins[-1] == ("mailer", secret)
        assert [d.recipients for d in server.received] == [[NURSE]]
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert secret not in logged and "wrong-password" not in logged
        ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("webapp"))
        assert "mail" in ours and NURSE not in ours  # no line of the site's names a recipient
    finally:
        server.stop()


def test_starttls(tmp_path, clock, monkeypatch):
    cert, key = self_signed(tmp_path)
    server = MailServer(tls=(cert, key), login=("mailer", "pw")).start()
    # The site verifies the server's certificate: trust this test's own.
    real = ssl.create_default_context
    monkeypatch.setattr(mailer_module.ssl, "create_default_context",
                        lambda *a, **k: real(cafile=str(cert)))  # fmt: skip
    try:
        with app_for(tmp_path, clock, server, tls="starttls", username="mailer",
                     password=Secret("pw")) as client:  # fmt: skip
            add_staff(client, NURSE, PASSWORD)
            send_request(client, clock, email="")
            assert deliver(client) == (1, 0)
        assert [d.recipients for d in server.received] == [[NURSE]]
        assert server.logins == [("mailer", "pw")]
    finally:
        server.stop()


def test_starttls_refuses_a_certificate_it_cannot_trust(tmp_path, clock):
    cert, key = self_signed(tmp_path)
    server = MailServer(tls=(cert, key)).start()
    try:
        with app_for(tmp_path, clock, server, tls="starttls") as client:
            add_staff(client, NURSE, PASSWORD)
            send_request(client, clock, email="")
            assert deliver(client) == (0, 1)
            assert mails(client)[0]["last_error"].startswith("TLS failed")
        assert server.received == []
    finally:
        server.stop()


# --- the loop in the site's own process ------------------------------------------------------


def test_the_running_site_sends_as_soon_as_a_request_is_stored(tmp_path, server):
    clock = FakeClock(datetime(2026, 12, 1, 15, 30, tzinfo=UTC), running=True)
    settings = replace(make_settings(tmp_path, smtp=server.settings()), background_jobs=True)
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        add_staff(client, NURSE, PASSWORD)
        client.portal.call(asyncio.sleep, 0.2)  # the loops have started and found nothing
        send_request(client, clock, email="")
        # Woken by the request's commit: delivered well before its next poll (15 s).
        for _ in range(100):
            if server.received:
                break
            client.portal.call(asyncio.sleep, 0.05)
        assert [d.recipients for d in server.received] == [[NURSE]]


# --- staff choices ------------------------------------------------------------------------------


def csrf_of(client: TestClient) -> str:
    return CSRF_FIELD.search(client.get("/staff/account").text).group(1)


def test_each_person_chooses_their_new_request_mail(site, clock, server):
    assert login(site, NURSE, PASSWORD).status_code == 303
    page = site.get("/staff/account").text
    assert 'name="request_mail" value="each" checked' in page
    token = csrf_of(site)
    send_request(site, clock)  # queued for the nurse while they still want each request
    response = site.post("/staff/account/mail", data={"csrf": token, "request_mail": "off"},
                         follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/account?done=mail#mail"
    assert 'name="request_mail" value="off" checked' in site.get("/staff/account").text
    [entry] = [r for r in query(site, "SELECT * FROM audit_log WHERE action = 'mail_preference'")]
    assert entry["detail"] == "each → off" and entry["actor"] == NURSE
    assert deliver(site) == (2, 0)  # the doctor's and the visitor's; the nurse's is withdrawn
    assert NURSE not in [d.recipients[0] for d in server.received]
    bad = site.post("/staff/account/mail", data={"csrf": token, "request_mail": "hourly"})
    assert bad.status_code == 422 and "Choose one of the options offered." in bad.text
    forged = site.post("/staff/account/mail", data={"csrf": "x", "request_mail": "each"})
    assert forged.status_code == 403


def test_the_daily_digest(site, clock, server):
    first = send_request(site, clock)
    clock.advance(hours=2)
    second = send_request(site, clock, email="other@example.net")
    send_request(site, clock, website="spam")  # suspected spam is left out
    clock.set_local(2026, 12, 2, 7, 29)
    assert [o.name for o in site.portal.call(site.app.ctx.jobs.tick)
            if o.name == "mail-digest"] == ["mail-digest"]  # fmt: skip
    digests = [m for m in mails(site) if m["kind"] == "digest"]
    # The first run (at start-up: it never ran) covers the past day: both requests.
    assert [(m["recipient"], m["subject"]) for m in digests] == [
        (DIGEST, "2 new consultation requests (Wednesday, December 2)")
    ]
    body = digests[0]["body"]
    assert first in body and second in body and "/staff/requests/" in body
    clock.set_local(2026, 12, 2, 7, 30)
    site.portal.call(site.app.ctx.jobs.tick)
    assert len([m for m in mails(site) if m["kind"] == "digest"]) == 1  # nothing new since
    clock.set_local(2026, 12, 2, 9, 0)
    third = send_request(site, clock, email="")
    clock.set_local(2026, 12, 3, 7, 30)
    site.portal.call(site.app.ctx.jobs.tick)
    latest = [m for m in mails(site) if m["kind"] == "digest"][-1]
    assert latest["subject"] == "1 new consultation request (Thursday, December 3)"
    assert third in latest["body"] and first not in latest["body"]
    deliver(site)
    for delivered in server.received:
        if delivered.recipients == [DIGEST]:
            assert_no_visitor_text(delivered.raw, staff=True)
            assert "other@example.net" not in delivered.raw.decode()


# --- invitations --------------------------------------------------------------------------------


def test_an_invitation_is_mailed_when_mail_is_set_up(site, clock, server):
    execute(site, "UPDATE staff SET role = 'admin' WHERE email = ?", (NURSE,))
    assert login(site, NURSE, PASSWORD).status_code == 303
    token = csrf_of(site)
    page = site.post("/staff/accounts/invite", data={"csrf": token, "email": "new@example.org"})
    assert page.status_code == 200
    link = re.search(r'id="invite-link">([^<]+)<', page.text).group(1).replace("&amp;", "&")
    assert "It has also been emailed to new@example.org" in words(page.text)
    assert deliver(site) == (1, 0)
    [invited] = server.received
    assert invited.recipients == ["new@example.org"]
    assert link in invited.message.get_payload(decode=True).decode()
    [row] = [m for m in mails(site) if m["kind"] == "invitation"]
    assert row["state"] == "sent" and row["body"] == ""  # the live link is not kept
    token = link.split("token=")[1]
    path = Path(site.app.ctx.settings.database_path)
    for file in (path, Path(f"{path}-wal")):  # nor in the write-ahead log
        assert token.encode() not in (file.read_bytes() if file.exists() else b""), file


def test_a_withdrawn_invitation_is_not_mailed(site, clock, server):
    execute(site, "UPDATE staff SET role = 'admin' WHERE email = ?", (NURSE,))
    assert login(site, NURSE, PASSWORD).status_code == 303
    token = csrf_of(site)
    site.post("/staff/accounts/invite", data={"csrf": token, "email": "new@example.org"})
    [invitation] = query(site, "SELECT id FROM invitations")
    site.post(f"/staff/accounts/invitations/{invitation['id']}/revoke", data={"csrf": token})
    assert deliver(site) == (0, 0)
    assert [(m["state"], m["body"]) for m in mails(site)] == [("cancelled", "")]


def test_without_mail_an_invitation_is_only_shown(tmp_path, clock):
    with app_for(tmp_path, clock, None) as client:
        add_staff(client, NURSE, PASSWORD)
        assert login(client, NURSE, PASSWORD).status_code == 303
        page = client.post("/staff/accounts/invite",
                           data={"csrf": csrf_of(client), "email": "new@example.org"})  # fmt: skip
        assert 'id="invite-link"' in page.text
        assert "emailed" not in words(page.text)
        assert mails(client) == []


def test_the_queue_page_polls_state_without_counting_as_activity(site, clock):
    assert login(site, NURSE, PASSWORD).status_code == 303
    latest = 0
    send_request(site, clock, email="")
    poll = {"X-Staff-Poll": "1"}
    state = site.get(f"/staff/queue-state?since={latest}", headers=poll)
    assert state.headers["cache-control"] == "no-store"
    assert state.json() == {"new": 1, "action": 1, "latest": 1, "arrived": 1}
    assert site.get("/staff/queue-state?since=1", headers=poll).json()["arrived"] == 0
    assert site.get("/staff/queue-state?since=x'", headers=poll).json()["arrived"] == 1
    before = query(site, "SELECT last_seen_at FROM sessions")[0][0]
    clock.advance(minutes=5)
    site.get("/staff/queue-state?since=1", headers=poll)
    assert query(site, "SELECT last_seen_at FROM sessions")[0][0] == before
    assert utc_now_iso(clock()) != before
