"""Check-then-act in one transaction: many of the same click at once, and deletes that take
a request's mails, attempts and views with it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from webapp import followup, handling, outbox, retention
from webapp.auth import Staff, insert_staff
from webapp.db import utc_now_iso
from webapp.mailtext import Mail

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


async def seed(db) -> tuple[Staff, Staff, int]:
    async def work(conn):
        stamp = utc_now_iso(NOW)
        one = await insert_staff(conn, "a@example.org", "x", stamp, admin=True, actor="t", now=NOW)
        two = await insert_staff(conn, "b@example.org", "x", stamp, admin=False, actor="t", now=NOW)
        cursor = await conn.execute(
            "INSERT INTO consultations (reference, token_id, full_name, email, phone,"
            " contact_method, best_time, message, status, consent_at, created_at, updated_at)"
            " VALUES ('AKI-00001', 't', 'Ann', 'ann@example.org', '', 'email', 'any', '',"
            " 'new', ?, ?, ?)",
            (stamp, stamp, stamp),
        )
        return one, two, cursor.lastrowid

    one, two, request_id = await db.write(work)
    return Staff(one, "a@example.org", True), Staff(two, "b@example.org", True), request_id


async def test_fifty_clicks_on_one_button_at_once_log_one_attempt(database):
    nurse, _, request_id = await seed(database)
    counts = await asyncio.gather(*(
        handling.log_attempt(database, request_id, "no_answer", nurse, NOW) for _ in range(50)
    ))  # fmt: skip
    assert set(counts) == {1}
    row = await database.fetchone("SELECT attempts FROM consultations WHERE id = ?", (request_id,))
    assert row[0] == 1
    audited = await database.fetchall("SELECT * FROM audit_log WHERE action = 'contact_attempt'")
    assert len(audited) == 1


async def test_two_people_assigning_at_once_leave_a_true_trail(database):
    nurse, doctor, request_id = await seed(database)
    results = await asyncio.gather(*(
        handling.assign(database, request_id, who.id, who, NOW)
        for _ in range(25) for who in (nurse, doctor)
    ))  # fmt: skip
    changes = sum(results)
    trail = await database.fetchall(
        "SELECT detail FROM audit_log WHERE action = 'assigned' ORDER BY id"
    )
    assert len(trail) == changes  # every change audited, no audit without a change
    final = await database.fetchone("SELECT assigned_to FROM consultations WHERE id = ?",
                                    (request_id,))  # fmt: skip
    last = trail[-1][0]
    assert last == ("to a@example.org" if final[0] == nurse.id else "to b@example.org")


async def test_a_bulk_change_and_single_changes_at_once(database):
    nurse, _, request_id = await seed(database)
    outcomes = await asyncio.gather(
        handling.change_many(database, [request_id], "closed", nurse, NOW),
        followup.change_status(database, request_id, "contacted", nurse, NOW),
        return_exceptions=True,
    )
    rows = await database.fetchall(
        "SELECT detail FROM audit_log WHERE action = 'status_change' ORDER BY id"
    )
    status = (await database.fetchone("SELECT status FROM consultations"))[0]
    # Whichever came first won; the other was checked against it, in its own transaction.
    assert status in ("closed", "contacted")
    assert [r[0] for r in rows][-1].startswith(("New →", "Contacted →", "Closed →"))
    assert all(not isinstance(o, Exception) or "cannot become" in str(o) for o in outcomes)


async def test_deleting_a_request_takes_its_mails_attempts_and_views(database):
    nurse, _, request_id = await seed(database)
    await handling.log_attempt(database, request_id, "spoke", nurse, NOW)
    await handling.record_view(database, request_id, nurse, NOW)

    async def mail(conn):
        item = outbox.Outgoing("acknowledgement", f"ack:{request_id}", "ann@example.org",
                               Mail("s", "b"), consultation_id=request_id)  # fmt: skip
        await outbox.enqueue(conn, item, NOW)

    await database.write(mail)
    await database.write(lambda conn: conn.execute(
        "UPDATE consultations SET status = 'closed', closed_at = ?",
        (utc_now_iso(NOW - timedelta(days=400)),),
    ))  # fmt: skip
    assert (await retention.run(database, NOW, 365)).closed == 1
    for table in ("outbox", "contact_attempts", "request_views", "consultations_fts_docsize"):
        row = await database.fetchone(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert row[0] == 0, table
