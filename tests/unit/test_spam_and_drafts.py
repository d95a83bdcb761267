"""The pure spam signals, the flood counter, and the kept drafts of no-JavaScript forms."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from starlette.datastructures import Secret

from webapp import drafts
from webapp.consultations import PERSON_FIELDS
from webapp.db import Database, migrate
from webapp.spam import BUCKET, Intake, automated_signal
from webapp.throttle import Limit, Throttle

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "age", "signal"),
    [
        ({}, 5.0, None),
        ({"website": ""}, 2.0, None),
        ({"website": ""}, 1.999, "too_fast"),
        ({}, 0.3, "too_fast"),
        ({"website": "x"}, 60.0, "honeypot"),
        ({"website": "x"}, 0.0, "honeypot"),  # the stronger signal is named
    ],
)
def test_automated_signal(values, age, signal):
    assert automated_signal(values, timedelta(seconds=age), 2.0) == signal


@pytest.fixture
async def db(tmp_path):
    path = tmp_path / "unit.db"
    migrate(path)
    database = Database(path)
    await database.open()
    yield database
    await database.close()


@pytest.mark.anyio
async def test_the_intake_counts_every_admitted_request_and_says_when_it_is_a_flood(db):
    throttle = Throttle(db, Secret("k" * 40))
    per_client = Limit(BUCKET, 3, timedelta(minutes=10))
    intake = Intake(throttle, per_client, Limit("flood", 4, timedelta(minutes=10)))

    async def send(client: str, at: datetime) -> tuple[bool, bool | None]:
        admit, flood = intake.checks(client, at)

        async def work(conn) -> tuple[bool, bool | None]:
            if not await admit(conn):
                return False, None
            return True, await flood(conn)

        return await db.write(work)

    # Site-wide: the fifth request in the window is a flood, and so is every one after it.
    answers = [await send(f"10.0.0.{i}", NOW + timedelta(seconds=i)) for i in range(6)]
    assert answers == [(True, False)] * 4 + [(True, True)] * 2
    # Every admitted request was counted under each limit, flagged or not.
    at = NOW + timedelta(seconds=6)
    assert await throttle.count(intake.flood_site, "site", at) == 6
    assert await throttle.count(intake.flood_client, "10.0.0.5", at) == 1
    # One event per request for its address (both per-address limits count it) and one for
    # the site: two rows, not three.
    with closing(sqlite3.connect(db.path)) as conn:
        assert conn.execute("SELECT count(*) FROM rate_events").fetchone() == (12,)
    # Over the per-client limit: refused, and nothing at all is recorded for it.
    later = NOW + timedelta(minutes=11)
    assert [(await send("10.9.9.9", later))[0] for _ in range(4)] == [True, True, True, False]
    assert await throttle.count(per_client, "10.9.9.9", later) == 3
    assert await throttle.count(intake.flood_site, "site", later) == 3
    # Once the window has passed, it is within the limit again.
    assert await send("10.0.0.1", NOW + timedelta(minutes=30)) == (True, False)


@pytest.mark.anyio
async def test_one_address_over_its_own_daily_limit_is_a_flood(db):
    throttle = Throttle(db, Secret("k" * 40))
    generous = Limit(BUCKET, 1000, timedelta(minutes=10))
    intake = Intake(throttle, generous, Limit("flood", 1000, timedelta(minutes=10)))
    limit = intake.flood_client.limit

    async def send(at: datetime) -> bool:
        admit, flood = intake.checks("198.51.100.7", at)
        return await db.write(lambda conn: _admitted_flood(conn, admit, flood))

    answers = [await send(NOW + timedelta(minutes=i)) for i in range(limit + 1)]
    assert answers == [False] * limit + [True]


async def _admitted_flood(conn, admit, flood) -> bool:
    assert await admit(conn)
    return await flood(conn)


# --- drafts -------------------------------------------------------------------------------------

TYPED = {"full_name": "Zoë Ñandú", "email": "zoe@@example", "message": "x" * 5000,
         "token": "secret-token", "website": "spam", "consent": "yes"}  # fmt: skip


@pytest.mark.anyio
async def test_a_draft_keeps_the_persons_fields_until_it_expires(db):
    draft_id = await drafts.save(db, TYPED, PERSON_FIELDS, NOW)
    assert draft_id is not None and drafts.is_id(draft_id)
    draft = await drafts.load(db, draft_id, NOW + drafts.TTL - timedelta(microseconds=1))
    assert draft is not None
    assert draft.values == {
        "full_name": "Zoë Ñandú", "email": "zoe@@example", "message": "x" * drafts.MAX_VALUE,
        "consent": "yes",
    }  # fmt: skip
    assert (draft.notice, draft.retry_at) == (None, None)
    assert await drafts.load(db, draft_id, NOW + drafts.TTL) is None
    assert await drafts.purge(db, NOW + drafts.TTL - timedelta(seconds=1)) == 0
    assert await drafts.purge(db, NOW + drafts.TTL) == 1
    with closing(sqlite3.connect(db.path)) as conn:
        assert conn.execute("SELECT count(*) FROM form_drafts").fetchone()[0] == 0


@pytest.mark.anyio
async def test_a_rate_limited_draft_outlives_the_wait(db):
    retry_at = NOW + timedelta(minutes=9)
    draft_id = await drafts.save(db, TYPED, PERSON_FIELDS, NOW, "rate", retry_at)
    assert draft_id is not None
    draft = await drafts.load(db, draft_id, retry_at + drafts.TTL - timedelta(seconds=1))
    assert draft is not None and (draft.notice, draft.retry_at) == ("rate", retry_at)
    assert await drafts.load(db, draft_id, retry_at + drafts.TTL) is None


@pytest.mark.anyio
async def test_discard_and_odd_ids(db):
    draft_id = await drafts.save(db, TYPED, PERSON_FIELDS, NOW)
    assert draft_id is not None
    await drafts.discard(db, draft_id)
    assert await drafts.load(db, draft_id, NOW) is None
    for odd in ("", "x", "../../etc", "a" * 31, "a" * 33, "a" * 31 + "!", "é" * 32):
        assert not drafts.is_id(odd)
        assert await drafts.load(db, odd, NOW) is None
        await drafts.discard(db, odd)  # nothing to do, no error


@pytest.mark.anyio
async def test_a_refused_draft_is_not_kept(db):
    async def refuse(conn) -> bool:
        return False

    assert await drafts.save(db, TYPED, PERSON_FIELDS, NOW, admit=refuse) is None
    with closing(sqlite3.connect(db.path)) as conn:
        assert conn.execute("SELECT count(*) FROM form_drafts").fetchone()[0] == 0


@pytest.mark.anyio
async def test_draft_ids_are_random_and_unknown_notices_refused(db):
    ids = {await drafts.save(db, {}, PERSON_FIELDS, NOW) for _ in range(20)}
    assert len(ids) == 20
    with pytest.raises(ValueError, match="unknown notice"):
        await drafts.save(db, {}, PERSON_FIELDS, NOW, notice="gone")
