"""/staff/accounts (admins only) and invitations: roles, the last active admin, audit."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from tests.helpers import CSRF_FIELD, add_staff, audit, is_signed_in, login, query, with_cookie
from webapp import accounts, auth
from webapp.db import migrate

ADMIN, ADMIN_PW = "admin@example.org", "quarry-lantern-orbit-61"
NURSE, NURSE_PW = "nurse@example.org", "violet-harbor-teapot-42"
NEW_PW = "granite-meadow-lantern-77"
LINK = re.compile(r'id="invite-link">([^<]+)<')
ACTIONS = ("disable", "enable", "make-admin", "make-staff", "reset-two-factor", "end-sessions")


def cookie_for(client: TestClient, email: str, password: str) -> str:
    client.cookies.clear()
    response = login(client, email, password)
    assert response.status_code == 303, response.text
    client.cookies.clear()
    return response.cookies["aki_staff"]


def csrf(client: TestClient, cookie: str) -> str:
    return CSRF_FIELD.search(client.get("/staff/account", headers=with_cookie(cookie)).text)[1]


def post(client: TestClient, cookie: str, url: str, **fields: str):
    data = {"csrf": csrf(client, cookie), **fields}
    return client.post(url, data=data, headers=with_cookie(cookie), follow_redirects=False)


@pytest.fixture
def team(client) -> dict[str, int]:
    admin = add_staff(client, ADMIN, ADMIN_PW)
    nurse = add_staff(client, NURSE, NURSE_PW)
    return {"admin": admin, "nurse": nurse}


def role_of(client, staff_id: int) -> tuple[str, int]:
    return tuple(query(client, "SELECT role, active FROM staff WHERE id = ?", (staff_id,))[0])


# --- roles -------------------------------------------------------------------------------------


def test_the_first_account_is_an_admin_and_the_next_are_staff(client, team):
    assert role_of(client, team["admin"]) == ("admin", 1)
    assert role_of(client, team["nurse"]) == ("staff", 1)


def test_staff_get_403_on_every_accounts_route(client, team, app):
    cookie = cookie_for(client, NURSE, NURSE_PW)
    token = csrf(client, cookie)
    targets = [("GET", "/staff/accounts")]
    targets += [("POST", f"/staff/accounts/{team['admin']}/{a}") for a in ACTIONS]
    targets += [
        ("POST", "/staff/accounts/invite"),
        ("POST", "/staff/accounts/invitations/1/revoke"),
    ]
    # Every route under /staff/accounts is in the list (a new one must be added here).
    paths = {r.path for r in app.routes if getattr(r, "path", "").startswith("/staff/accounts")}
    assert paths == {
        "/staff/accounts",
        "/staff/accounts/invite",
        "/staff/accounts/{staff_id}/{action}",
        "/staff/accounts/invitations/{invitation_id}/revoke",
    }
    before = query(client, "SELECT * FROM staff")
    for method, url in targets:
        data = {"csrf": token, "email": "x@example.org"} if method == "POST" else None
        response = client.request(method, url, data=data, headers=with_cookie(cookie))
        assert response.status_code == 403, (method, url)
        assert "Only an admin can manage accounts." in response.text
    assert [tuple(r) for r in query(client, "SELECT * FROM staff")] == [tuple(r) for r in before]
    assert 'href="/staff/accounts"' not in client.get("/staff", headers=with_cookie(cookie)).text


def test_an_admin_sees_every_account(client, team):
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    page = client.get("/staff/accounts", headers=with_cookie(cookie))
    assert page.status_code == 200
    assert ADMIN in page.text and NURSE in page.text
    assert 'href="/staff/accounts" aria-current="page"' in page.text


@pytest.mark.parametrize(
    ("action", "expected", "audit_action"),
    [
        ("disable", ("staff", 0), "account_disabled"),
        ("make-admin", ("admin", 1), "role_changed"),
    ],
)
def test_admin_actions_change_the_account_and_are_audited(
    client, team, action, expected, audit_action
):
    nurse_cookie = cookie_for(client, NURSE, NURSE_PW)
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    response = post(client, cookie, f"/staff/accounts/{team['nurse']}/{action}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/accounts?done={action}"
    assert role_of(client, team["nurse"]) == expected
    [entry] = audit(client, audit_action)
    assert (entry["actor"], entry["staff_id"]) == (ADMIN, team["admin"])
    assert NURSE in entry["detail"]
    assert is_signed_in(client, nurse_cookie) is (action != "disable")


def test_enable_again_and_end_sessions(client, team):
    nurse_cookie = cookie_for(client, NURSE, NURSE_PW)
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    post(client, cookie, f"/staff/accounts/{team['nurse']}/end-sessions")
    assert not is_signed_in(client, nurse_cookie)
    post(client, cookie, f"/staff/accounts/{team['nurse']}/disable")
    assert login(client, NURSE, NURSE_PW).status_code == 400
    post(client, cookie, f"/staff/accounts/{team['nurse']}/enable")
    client.cookies.clear()
    assert login(client, NURSE, NURSE_PW).status_code == 303
    actions = [e["action"] for e in audit(client) if e["actor"] == ADMIN and e["action"] != "login"]
    assert actions == ["sessions_ended", "account_disabled", "account_enabled"]


def test_ending_ones_own_sessions_keeps_the_one_in_use(client, team):
    elsewhere = cookie_for(client, ADMIN, ADMIN_PW)
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    post(client, cookie, f"/staff/accounts/{team['admin']}/end-sessions")
    assert is_signed_in(client, cookie) and not is_signed_in(client, elsewhere)


@pytest.mark.parametrize("action", ["disable", "make-staff"])
def test_the_last_active_admin_cannot_be_disabled_or_demoted(client, team, action):
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    response = post(client, cookie, f"/staff/accounts/{team['admin']}/{action}")
    assert response.status_code == 409
    assert "The last active admin cannot be disabled or made staff" in response.text
    assert role_of(client, team["admin"]) == ("admin", 1)
    assert audit(client, "account_disabled") == audit(client, "role_changed") == []


def test_with_two_admins_one_may_step_down(client, team):
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    post(client, cookie, f"/staff/accounts/{team['nurse']}/make-admin")
    assert post(client, cookie, f"/staff/accounts/{team['admin']}/make-staff").status_code == 303
    assert role_of(client, team["admin"]) == ("staff", 1)
    # Now a member of staff: the accounts page is closed to them.
    assert client.get("/staff/accounts", headers=with_cookie(cookie)).status_code == 403


def test_a_disabled_admin_does_not_count(client, team):
    db = client.app.ctx.db
    third = add_staff(client, "third@example.org", NEW_PW)
    now = client.app.ctx.clock()
    call = client.portal.call
    call(accounts.set_role, db, third, "admin", accounts.CLI, now)
    call(accounts.set_active, db, third, False, accounts.CLI, now)
    with pytest.raises(accounts.LastAdmin):
        call(accounts.set_role, db, team["admin"], "staff", accounts.CLI, now)


def test_the_database_keeps_an_admin_whoever_writes(client, team):
    with closing(sqlite3.connect(client.app.ctx.settings.database_path)) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="last active admin"):
            conn.execute("UPDATE staff SET active = 0 WHERE role = 'admin'")
        with pytest.raises(sqlite3.IntegrityError, match="last active admin"):
            conn.execute("UPDATE staff SET role = 'staff'")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    settings, clock, anyio_backend
):
    from webapp.app import create_app

    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        db, now = app.ctx.db, clock()
        hashed = app.ctx.hasher.hash_sync(ADMIN_PW)
        ids = [await auth.create_staff(db, f"a{i}@example.org", hashed, now, admin=True)
               for i in range(6)]  # fmt: skip
        actor = accounts.CLI
        results = await asyncio.gather(
            *(accounts.set_role(db, i, "staff", actor, now) for i in ids),
            *(accounts.set_active(db, i, False, actor, now) for i in ids),
            return_exceptions=True,
        )
        rows = await db.fetchall("SELECT role, active FROM staff")
    assert sum(isinstance(r, accounts.LastAdmin) for r in results) >= 1
    assert sum(1 for r in rows if r["role"] == "admin" and r["active"]) == 1
    assert not any(isinstance(r, Exception) and not isinstance(r, accounts.LastAdmin)
                   for r in results)  # fmt: skip


# --- invitations -------------------------------------------------------------------------------


def invite(client, cookie, email="newcomer@example.org"):
    return post(client, cookie, "/staff/accounts/invite", email=email)


def token_of(page: str) -> str:
    url = LINK.search(page)[1]
    assert url.startswith("http://testserver/staff/invitation?token=")
    return parse_qs(urlsplit(url.replace("&amp;", "&")).query)["token"][0]


def accept(client, token, password=NEW_PW, repeat=None):
    client.cookies.clear()
    return client.post(
        "/staff/invitation",
        data={"token": token, "new_password": password, "repeat_password": repeat or password},
        follow_redirects=False,
    )


def test_an_invitation_from_link_to_signed_in_staff(client, team, clock):
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    page = invite(client, cookie)
    assert page.status_code == 200
    assert "It is shown only now." in page.text
    assert "Subject:</strong> Your staff account at Albany Ketamine Infusions" in page.text
    token = token_of(page.text)
    assert token not in str(query(client, "SELECT * FROM invitations"))  # only its hash
    assert (
        "newcomer@example.org: invited by admin@example.org"
        in client.get("/staff/accounts", headers=with_cookie(cookie)).text
    )
    client.cookies.clear()
    form = client.get(f"/staff/invitation?token={token}")
    assert form.status_code == 200
    assert "Choose a password for <strong>newcomer@example.org</strong>" in form.text
    clock.advance(hours=71)
    response = accept(client, token)
    assert response.status_code == 303 and response.headers["location"] == "/staff"
    assert is_signed_in(client, response.cookies["aki_staff"])
    [row] = query(client, "SELECT role, active FROM staff WHERE email = 'newcomer@example.org'")
    assert tuple(row) == ("staff", 1)
    created = audit(client, "account_created")[-1]
    assert created["actor"] == "newcomer@example.org"
    assert [e["actor"] for e in audit(client, "invitation_created")] == [ADMIN]
    # Single use.
    assert accept(client, token).status_code == 410
    assert client.get(f"/staff/invitation?token={token}").status_code == 410


def test_an_invitation_expires_after_72_hours(client, team, clock):
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    token = token_of(invite(client, cookie).text)
    clock.advance(hours=72, seconds=1)
    response = accept(client, token)
    assert response.status_code == 410
    assert "has expired, has been used or was withdrawn" in response.text
    assert query(client, "SELECT count(*) FROM staff")[0][0] == 2


def test_a_withdrawn_or_replaced_invitation_stops_working(client, team):
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    first = token_of(invite(client, cookie).text)
    second = token_of(invite(client, cookie).text)  # a new link replaces the old one
    assert accept(client, first).status_code == 410
    [row] = query(client, "SELECT id FROM invitations WHERE revoked_at IS NULL")
    post(client, cookie, f"/staff/accounts/invitations/{row[0]}/revoke")
    assert accept(client, second).status_code == 410
    assert [e["action"] for e in audit(client) if e["action"].startswith("invitation")] == [
        "invitation_created", "invitation_created", "invitation_revoked"]  # fmt: skip


@pytest.mark.parametrize(
    ("email", "status", "message"),
    [
        ("not an email", 422, "Enter an email address"),
        (NURSE, 409, "already has an account"),
        (NURSE.upper(), 409, "already has an account"),
    ],
)
def test_a_bad_invitation_is_refused(client, team, email, status, message):
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    response = invite(client, cookie, email)
    assert response.status_code == status
    assert message in response.text
    assert query(client, "SELECT count(*) FROM invitations")[0][0] == 0


@pytest.mark.parametrize(
    ("password", "repeat", "message"),
    [("short", "short", "Use at least 12 characters."),
     ("newcomer@example.org", "newcomer@example.org", "Choose a less common password."),
     (NEW_PW, NEW_PW + "x", "The two passwords differ.")],
)  # fmt: skip
def test_a_weak_password_keeps_the_invitation(client, team, password, repeat, message):
    cookie = cookie_for(client, ADMIN, ADMIN_PW)
    token = token_of(invite(client, cookie).text)
    response = accept(client, token, password, repeat)
    assert response.status_code == 422 and message in response.text.replace("&#39;", "'")
    assert accept(client, token).status_code == 303


@pytest.mark.parametrize("token", ["", "x", "a" * 43, "é" * 10, "a" * 500])
def test_unknown_tokens(client, token):
    assert client.get("/staff/invitation", params={"token": token}).status_code == 410
    assert accept(client, token).status_code == 410


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_one_link_posted_20_times_at_once_makes_one_account(settings, clock, anyio_backend):
    from webapp import invitations
    from webapp.app import create_app

    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        await auth.create_staff(app.ctx.db, ADMIN, app.ctx.hasher.hash_sync(ADMIN_PW), clock())
        _, token = await invitations.create(app.ctx.db, "twins@example.org", accounts.CLI, clock())
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as c:
            data = {"token": token, "new_password": NEW_PW, "repeat_password": NEW_PW}
            responses = await asyncio.gather(
                *(c.post("/staff/invitation", data=data) for _ in range(20))
            )
        count = await app.ctx.db.fetchone("SELECT count(*) FROM staff")
    assert sorted(r.status_code for r in responses) == [303] + [410] * 19
    assert count[0] == 2


def test_the_invitation_message_for_mail():
    from datetime import datetime

    from webapp.invitations import message

    text = message("Albany Ketamine Infusions", ADMIN, "https://x.example/staff/invitation?token=t",
                   datetime(2026, 12, 4, 16, 5))  # fmt: skip
    assert text.subject == "Your staff account at Albany Ketamine Infusions"
    assert "https://x.example/staff/invitation?token=t" in text.body
    assert "until Friday, December 4 at 4:05 PM (Eastern Time)" in text.body
    assert ADMIN in text.body


# --- migrating existing accounts ---------------------------------------------------------------


def test_existing_accounts_get_an_admin_when_migrated(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
    )
    conn.commit()
    conn.close()
    # Apply everything up to 0007 by hand: the state of a site before this change.
    from webapp import db as dbmod

    for version, name, sql in dbmod._migrations():
        if version >= 8:
            break
        with closing(sqlite3.connect(path)) as c, c:
            for statement in dbmod._statements(sql):
                c.execute(statement)
            c.execute("INSERT INTO schema_migrations VALUES (?, ?, 'x')", (version, name))
    with closing(sqlite3.connect(path)) as c, c:
        for email, active, created in [
            ("gone@example.org", 0, "2026-01-01T00:00:00.000000Z"),
            ("first@example.org", 1, "2026-02-01T00:00:00.000000Z"),
            ("later@example.org", 1, "2026-03-01T00:00:00.000000Z"),
        ]:
            c.execute("INSERT INTO staff (email, password_hash, active, created_at, updated_at)"
                      " VALUES (?, 'h', ?, ?, ?)", (email, active, created, created))  # fmt: skip
    migrate(path)
    with closing(sqlite3.connect(path)) as c:
        roles = c.execute("SELECT email, role FROM staff ORDER BY id").fetchall()
    assert roles == [("gone@example.org", "staff"), ("first@example.org", "admin"),
                     ("later@example.org", "staff")]  # fmt: skip
