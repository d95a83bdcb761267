"""Attacks on the privacy features: many erasures of one request at once against the real
server (one wins, each request erased and audited once), erasure racing the retention run,
and the daily job swept over whole days, DST days included (exactly one run a day)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from starlette.testclient import TestClient

from tests.conftest import ET, FakeClock, make_settings
from tests.helpers import CSRF_FIELD, add_request, add_staff, audit, login, query, with_cookie
from tests.http.test_signin_live import serving
from webapp import privacy, retention
from webapp.app import create_app


def test_fifty_erasures_of_one_person_at_once_erase_it_once(settings, clock):
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        add_staff(client)  # the first account: an admin
        cookie = login(client).cookies["aki_staff"]
        client.cookies.clear()
        email = "sibling.race@example.org"
        asked = add_request(client, "Race Asked", email=email)
        other = add_request(client, "Race Other", email=email)
        add_request(client, "Race Stranger")
        csrf = CSRF_FIELD.search(client.get("/staff", headers=with_cookie(cookie)).text)[1]

    async def storm(url: str) -> list[int]:
        limits = httpx2.Limits(max_connections=60)
        async with httpx2.AsyncClient(base_url=url, timeout=60, limits=limits,
                                      cookies={"aki_staff": cookie}) as browser:  # fmt: skip
            ready = asyncio.Event()

            async def erase() -> int:
                await ready.wait()
                answer = await browser.post(f"/staff/requests/{asked}/erase",
                                            data={"csrf": csrf, f"also-{other}": "on"})  # fmt: skip
                return answer.status_code

            tasks = [asyncio.create_task(erase()) for _ in range(50)]
            ready.set()
            return await asyncio.gather(*tasks)

    with serving(app) as url:
        codes = asyncio.run(storm(url))
    assert Counter(codes) == Counter({303: 1, 404: 49})
    with TestClient(app) as client:
        names = [r[0] for r in query(client, "SELECT full_name FROM consultations")]
        assert names == ["Race Stranger"]
        assert sorted(e["consultation_id"] for e in audit(client, "erase")) == [asked, other]


@pytest.mark.anyio
async def test_erasure_and_the_retention_run_at_once(tmp_path, clock):
    """Both delete the same closed requests: each finishes, each request goes once."""
    app = create_app(make_settings(tmp_path), clock=clock)
    async with app.router.lifespan_context(app):
        db = app.ctx.db

        async def insert(conn):
            for i in range(20):
                await conn.execute(
                    "INSERT INTO consultations (reference, token_id, full_name, email,"
                    " contact_method, best_time, status, consent_at, created_at, updated_at,"
                    " closed_at) VALUES (?, ?, ?, ?, 'email', 'any', 'closed', ?, ?, ?, ?)",
                    (f"AKI-R{i:04d}", f"t{i}", f"Closed {i}", f"c{i}@example.org",
                     *["2025-01-01T00:00:00.000000Z"] * 4),
                )  # fmt: skip

        await db.write(insert)
        ids = [r[0] for r in await db.fetchall("SELECT id FROM consultations")]
        people = [await privacy.person(db, i) for i in ids]

        async def erase(found: privacy.Person) -> list[str]:
            try:
                return await privacy.erase(db, [found.request], clock(), "test")
            except privacy.NotHeld:
                return []

        results = await asyncio.gather(retention.run(db, clock(), 365), *(erase(p) for p in people))
        swept, erased = results[0], [r for r in results[1:] if r]
        assert swept.closed + len(erased) == 20
        left = await db.fetchone("SELECT count(*) FROM consultations")
        assert left[0] == 0
        closed = await db.fetchone("SELECT n FROM consultation_counts WHERE status = 'closed'")
        assert closed[0] == 0
        trail = await db.fetchall("SELECT count(*) FROM audit_log WHERE action = 'erase'")
        assert trail[0][0] == len(erased)


@pytest.mark.parametrize(
    "day",
    [datetime(2026, 12, 2), datetime(2026, 3, 8), datetime(2026, 11, 1), datetime(2026, 12, 25)],
    ids=["ordinary", "spring-forward", "fall-back", "christmas"],
)
def test_the_daily_job_runs_once_in_every_day_swept_minute_by_minute(tmp_path, day):
    start = day.replace(tzinfo=ET) - timedelta(days=1)
    clock = FakeClock(start + timedelta(hours=12))
    with TestClient(create_app(make_settings(tmp_path), clock=clock)) as client:
        client.portal.call(client.app.ctx.jobs.tick)  # the first run, the day before
        runs = []
        instant = day.replace(tzinfo=ET).astimezone(UTC)  # minutes of real time, not wall time
        end = (day + timedelta(days=1)).replace(tzinfo=ET).astimezone(UTC)
        while instant < end:
            clock.set(instant)
            outcomes = client.portal.call(client.app.ctx.jobs.tick)
            runs += [instant for o in outcomes if o.name == "retention"]
            instant += timedelta(minutes=1)
    assert len(runs) == 1
    local = runs[0].astimezone(ET)
    assert (local.hour, local.minute) == (3, 0)
