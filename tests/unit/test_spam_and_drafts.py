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
from webapp.spam import automated_signal
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
async def test_hit_counts_every_event_and_says_when_over(db):
    throttle = Throttle(db, Secret("k" * 40))
    limit = Limit("flood", 3, timedelta(minutes=10))

    async def hit(at: datetime) -> bool:
        return await db.write(lambda conn: throttle.hit(conn, limit, "site", at))

    answers = [await hit(NOW + timedelta(seconds=i)) for i in range(5)]
    assert answers == [True, True, True, False, False]
    # Unlike reserve(), the refused ones were counted too: a flood is measured at full size.
    assert await throttle.count(limit, "site", NOW + timedelta(seconds=5)) == 5
    # Once the window has passed, it is within the limit again.
    assert await hit(NOW + timedelta(minutes=10, seconds=5)) is True


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
