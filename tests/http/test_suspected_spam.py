"""Suspected spam for staff: out of the queue, the counts and searches, under its own filter,
moved back with one audited action, purged after 30 days; and what "flood" means."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import (
    CSRF_FIELD,
    HX,
    add_request,
    add_staff,
    audit,
    db_path,
    form,
    login,
    new_token,
    query,
    reference_in,
    rows,
    words,
)
from webapp import consultations, spam
from webapp.app import create_app

ROW = re.compile(r'<th scope="row"><a href="/staff/requests/(\d+)">([^<]*)</a>')


def names(html: str) -> list[str]:
    return [name for _, name in ROW.findall(html)]


def flag(client: TestClient, request_id: int, kind: str | None) -> None:
    with closing(sqlite3.connect(db_path(client))) as conn, conn:
        conn.execute("UPDATE consultations SET suspected_spam = ? WHERE id = ?", (kind, request_id))


def counts(client: TestClient) -> dict[str, int]:
    return {r["status"]: r["n"] for r in query(client, "SELECT status, n FROM consultation_counts")}


@pytest.fixture
def staff_client(client) -> TestClient:
    add_staff(client)
    assert login(client).status_code == 303
    return client


@pytest.fixture
def csrf(staff_client) -> str:
    return CSRF_FIELD.search(staff_client.get("/staff").text).group(1)


@pytest.fixture
def mixed(staff_client, clock) -> dict[str, int]:
    """A real request and a honeypot one, both sent through the public form."""
    for name, extra in (("Rita Real", {}), ("Sam Spammy", {"website": "http://x.example"})):
        response = staff_client.post(
            "/consultation", data=form(new_token(staff_client, clock), full_name=name, **extra),
            headers=HX,
        )  # fmt: skip
        assert response.status_code == 200
    ids = {r["full_name"]: r["id"] for r in rows(staff_client.app.ctx.settings)}
    return {"real": ids["Rita Real"], "spam": ids["Sam Spammy"]}


def test_spam_is_out_of_the_default_view_counts_and_search(staff_client, mixed):
    page = staff_client.get("/staff").text
    assert names(page) == ["Rita Real"]
    assert "1 request" in words(page)
    assert re.search(r"<strong>1</strong> new", page)
    assert "All (1)" in page and "Suspected spam (1)" in page
    assert "1 suspected spam" in words(page)  # the note that sends staff to look
    assert words(staff_client.get("/staff/new-count").text) == "1 new"
    assert counts(staff_client) == {
        "new": 1, "contacted": 0, "scheduled": 0, "not_a_fit": 0, "closed": 0, "spam": 1,
    }  # fmt: skip
    # Searches leave it out too, long and short, and so does the CSV export.
    for q in ("Sam", "Spammy", "Sa"):
        assert "Sam Spammy" not in names(staff_client.get("/staff", params={"q": q}).text)
    assert names(staff_client.get("/staff", params={"status": "new"}).text) == ["Rita Real"]
    assert "Sam Spammy" not in staff_client.get("/staff/requests.csv").text


def test_spam_is_listed_under_its_own_filter(staff_client, mixed):
    page = staff_client.get("/staff", params={"status": "spam"}).text
    assert names(page) == ["Sam Spammy"]
    text = words(page)
    assert "1 request · Suspected spam" in text
    assert "Suspected spam (the hidden field was filled in)" in text
    assert names(staff_client.get("/staff", params={"status": "spam", "q": "Spammy"}).text) == [
        "Sam Spammy"
    ]
    partial = staff_client.get("/staff", params={"status": "spam"}, headers=HX)
    assert partial.text.lstrip().startswith('<section id="request-list"')
    assert "Sam Spammy" in staff_client.get("/staff/requests.csv", params={"status": "spam"}).text


def test_the_request_page_says_why_and_offers_one_action(staff_client, mixed):
    page = staff_client.get(f"/staff/requests/{mixed['spam']}").text
    text = words(page)
    # Staff see what the visitor was promised (sent Tuesday 10:30 AM), with its date.
    assert "Promised reply by Tuesday, December 1, 5:00 PM ET" in text
    assert "Status: Suspected spam" in text
    assert "Stored as suspected spam: the hidden field was filled in." in text
    assert "Move to the queue" in text
    assert "Mark contacted" not in text


@pytest.mark.parametrize("htmx", [False, True], ids=["no-js", "htmx"])
def test_move_to_the_queue_from_the_request_page(staff_client, csrf, mixed, clock, htmx):
    url = f"/staff/requests/{mixed['spam']}/restore"
    response = staff_client.post(
        url, data={"csrf": csrf}, headers=HX if htmx else {}, follow_redirects=False
    )
    if htmx:
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="request-detail"')
        assert "Mark contacted" in response.text
    else:
        assert response.status_code == 303
        assert response.headers["location"] == f"/staff/requests/{mixed['spam']}"
    assert query(staff_client, "SELECT suspected_spam FROM consultations WHERE id = ?",
                 (mixed["spam"],))[0][0] is None  # fmt: skip
    [entry] = audit(staff_client, "spam_restore")
    assert entry["consultation_id"] == mixed["spam"]
    assert entry["actor"] == "nurse@example.org"
    assert entry["detail"] == "flagged as the hidden field was filled in"
    assert "Sam" not in entry["detail"]
    # In the queue ("Needs action", oldest first) like any new request.
    assert names(staff_client.get("/staff").text) == ["Rita Real", "Sam Spammy"]
    assert counts(staff_client)["new"] == 2 and counts(staff_client)["spam"] == 0
    history = words(staff_client.get(f"/staff/requests/{mixed['spam']}").text)
    assert "Moved from suspected spam to the queue: flagged as" in history
    # A second press (a double click, another tab) changes nothing and audits nothing.
    again = staff_client.post(url, data={"csrf": csrf}, follow_redirects=False)
    assert again.status_code == 303
    assert len(audit(staff_client, "spam_restore")) == 1


@pytest.mark.parametrize("htmx", [False, True], ids=["no-js", "htmx"])
def test_move_to_the_queue_from_the_list(staff_client, csrf, mixed, htmx):
    spam_list = staff_client.get("/staff", params={"status": "spam"}).text
    assert f'action="/staff/requests/{mixed["spam"]}/restore"' in spam_list
    assert '<input type="hidden" name="status" value="spam">' in spam_list
    response = staff_client.post(
        f"/staff/requests/{mixed['spam']}/restore",
        data={"csrf": csrf, "from": "list", "status": "spam"},
        headers=HX if htmx else {},
        follow_redirects=False,
    )
    if htmx:
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<section id="request-list"')
        assert names(response.text) == []
        assert "0 requests · Suspected spam" in words(response.text)
    else:
        assert response.status_code == 303
        assert response.headers["location"] == "/staff?status=spam"
    assert len(audit(staff_client, "spam_restore")) == 1


@pytest.mark.parametrize(
    ("headers", "data"),
    [
        ({}, {"from": "list"}),  # no CSRF token
        ({}, {"csrf": "forged"}),
        ({"sec-fetch-site": "cross-site"}, None),  # the right token, from another site
    ],
)
def test_moving_needs_the_csrf_token_and_the_own_site(staff_client, csrf, mixed, headers, data):
    response = staff_client.post(
        f"/staff/requests/{mixed['spam']}/restore",
        data={"csrf": csrf} if data is None else data,
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert audit(staff_client, "spam_restore") == []
    assert counts(staff_client)["spam"] == 1


def test_moving_needs_a_signed_in_member_of_staff(client, mixed_anonymous):
    response = client.post(
        f"/staff/requests/{mixed_anonymous}/restore", data={"csrf": "x"}, follow_redirects=False
    )
    assert response.status_code in (303, 403)
    assert audit(client, "spam_restore") == []


@pytest.fixture
def mixed_anonymous(client, clock) -> int:
    client.post("/consultation", data=form(new_token(client, clock), website="x"), headers=HX)
    return rows(client.app.ctx.settings)[0]["id"]


def test_moving_an_unknown_request_is_a_404(staff_client, csrf):
    response = staff_client.post("/staff/requests/999/restore", data={"csrf": csrf})
    assert response.status_code == 404


def test_a_suspected_request_cannot_change_status_until_moved(staff_client, csrf, mixed):
    url = f"/staff/requests/{mixed['spam']}/status"
    response = staff_client.post(url, data={"csrf": csrf, "status": "contacted"})
    assert response.status_code == 409
    assert "marked as suspected spam: move it to the queue first" in words(response.text)
    assert audit(staff_client, "status_change") == []


def test_counts_follow_flags_statuses_and_deletes(staff_client):
    a = add_request(staff_client, "A")
    b = add_request(staff_client, "B", status="contacted")
    flag(staff_client, a, "flood")
    flag(staff_client, b, "too_fast")
    assert counts(staff_client) | {} == {
        "new": 0, "contacted": 0, "scheduled": 0, "not_a_fit": 0, "closed": 0, "spam": 2,
    }  # fmt: skip
    # A status change while flagged leaves the figures alone; unflagging moves it back.
    with closing(sqlite3.connect(db_path(staff_client))) as conn, conn:
        conn.execute("UPDATE consultations SET status = 'closed' WHERE id = ?", (b,))
    assert counts(staff_client)["spam"] == 2 and counts(staff_client)["closed"] == 0
    flag(staff_client, b, None)
    flag(staff_client, a, "honeypot")  # one kind to another: still one spam
    assert (counts(staff_client)["closed"], counts(staff_client)["spam"]) == (1, 1)
    with closing(sqlite3.connect(db_path(staff_client))) as conn, conn:
        conn.execute("DELETE FROM consultations")
    assert set(counts(staff_client).values()) == {0}


# --- the 30-day purge ---------------------------------------------------------------------------


def raw_bytes(file: Path) -> bytes:
    return file.read_bytes() if file.exists() else b""


@pytest.mark.anyio
async def test_spam_is_purged_after_30_days_by_a_daily_job(tmp_path, clock):
    settings = make_settings(tmp_path)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        db = app.ctx.db
        sub = consultations.validate(
            {"full_name": "Old Bot", "email": "b@example.org", "contact_method": "email",
             "best_time": "any", "consent": "yes"}
        )[0]  # fmt: skip
        assert sub is not None
        old = clock() - timedelta(days=30, seconds=1)
        await consultations.store(db, sub, "t-old", old, signal="honeypot")
        await consultations.store(db, replace(sub, full_name="Young Bot"), "t-young",
                                  clock() - timedelta(days=29), signal="flood")  # fmt: skip
        await consultations.store(db, replace(sub, full_name="Old Person"), "t-real", old)
        # Past 3:00 AM in Albany: the daily retention job runs, once.
        clock.set_local(2026, 12, 2, 3, 41)
        outcomes = await app.ctx.jobs.tick()
        [outcome] = [o for o in outcomes if o.name == "retention"]
        assert outcome.ok and "1 suspected spam over 30 days old" in outcome.summary
        names_left = [r[0] for r in await db.fetchall("SELECT full_name FROM consultations")]
        assert sorted(names_left) == ["Old Person", "Young Bot"]
        [entry] = await db.fetchall("SELECT * FROM audit_log WHERE action = 'retention'")
        assert entry["actor"] == "system" and "1 suspected spam" in entry["detail"]
        assert [o.name for o in await app.ctx.jobs.tick() if o.name == "retention"] == []
        spam = await db.fetchone("SELECT n FROM consultation_counts WHERE status = 'spam'")
        assert spam[0] == 1
        # The deleted name is in neither the database file nor its write-ahead log.
        for suffix in ("", "-wal"):
            assert b"Old Bot" not in raw_bytes(Path(f"{settings.database_path}{suffix}")), suffix


# --- what a flood is ----------------------------------------------------------------------------


def send(client, clock, **changes):
    response = client.post("/consultation", data=form(new_token(client, clock), **changes),
                           headers=HX)  # fmt: skip
    assert response.status_code == 200, response.text
    return reference_in(response.text)


def test_a_site_wide_surge_is_flagged_but_stored(tmp_path, clock):
    settings = make_settings(tmp_path, consultation_limit=(100, 600), consultation_flood=(3, 600))
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        shown = [send(client, clock, full_name=f"P{i}") for i in range(5)]
        stored = rows(settings)
        assert [r["reference"] for r in stored] == shown
        assert [r["suspected_spam"] for r in stored] == [None, None, None, "flood", "flood"]
        # The surge passes: the next one is plain again.
        clock.advance(minutes=11)
        send(client, clock)
        assert rows(settings)[-1]["suspected_spam"] is None


def test_a_shared_address_is_not_a_flood_for_a_household(client, clock, settings):
    """A family (or an office) on one address sends a few requests: all go to the queue."""
    for name in ("Parent One", "Parent Two", "Grown Child", "Grandparent"):
        send(client, clock, full_name=name)
    assert [r["suspected_spam"] for r in rows(settings)] == [None] * 4


def test_more_in_a_day_from_one_address_than_any_household_is_a_flood(tmp_path, clock):
    settings = make_settings(tmp_path, consultation_limit=(100, 600))
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        per_day, _ = spam.FLOOD_PER_CLIENT
        for i in range(per_day + 1):
            clock.advance(minutes=30)
            send(client, clock, full_name=f"P{i}")
        assert [r["suspected_spam"] for r in rows(settings)] == [None] * per_day + ["flood"]
