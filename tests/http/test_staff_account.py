"""/staff/account: change one's password, see and end one's sessions; polling that does not
count as activity; CSRF on every new form."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.helpers import (
    CSRF_FIELD,
    EMAIL,
    HX,
    PASSWORD,
    add_staff,
    audit,
    is_signed_in,
    login,
    query,
    with_cookie,
)
from webapp.settings import ROOT

NEW = "granite-meadow-lantern-77"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
HANDLE = re.compile(r'action="/staff/account/sessions/([0-9a-f]+)/end"')


def cookie_from(client: TestClient, agent: str = CHROME, password: str = PASSWORD) -> str:
    """Sign in (as a browser with this User-Agent) and return the session cookie."""
    client.cookies.clear()
    response = login(client, EMAIL, password, headers={"User-Agent": agent})
    assert response.status_code == 303, response.text
    value = response.cookies["aki_staff"]
    client.cookies.clear()
    return value


def csrf_of(client: TestClient, cookie: str) -> str:
    page = client.get("/staff/account", headers=with_cookie(cookie))
    assert page.status_code == 200
    return CSRF_FIELD.search(page.text).group(1)


def post(client: TestClient, cookie: str, url: str, **fields: str):
    data = {"csrf": csrf_of(client, cookie), **fields}
    return client.post(url, data=data, headers=with_cookie(cookie), follow_redirects=False)


@pytest.fixture
def staff(client) -> int:
    add_staff(client, "admin@example.org", "quarry-lantern-orbit-61")
    return add_staff(client)


# --- polling is not activity -------------------------------------------------------------------


def test_polling_keeps_no_session_alive(client, staff, clock):
    cookie = cookie_from(client)
    poll = with_cookie(cookie, **HX, **{"X-Staff-Poll": "1"})
    for _ in range(9):  # 27 minutes of the "N new" badge polling, nobody at the desk
        clock.advance(minutes=3)
        assert client.get("/staff/new-count", headers=poll).status_code == 200
    clock.advance(minutes=3, seconds=1)  # 30 min since the person last did anything
    response = client.get("/staff/new-count", headers=poll)
    assert response.status_code == 401
    assert not is_signed_in(client, cookie)


def test_a_persons_request_does_count(client, staff, clock):
    cookie = cookie_from(client)
    for _ in range(4):
        clock.advance(minutes=20)
        assert is_signed_in(client, cookie)  # a page load: activity


def test_the_dashboard_polls_with_the_header(client, staff):
    cookie = cookie_from(client)
    page = client.get("/staff", headers=with_cookie(cookie)).text
    assert 'data-state-url="/staff/queue-state"' in page and "/js/queue." in page
    script = (ROOT / "static" / "js" / "queue.js").read_text()
    assert script.count('"X-Staff-Poll": "1"') == 1  # every request it makes sends it


# --- sessions ----------------------------------------------------------------------------------


def test_sessions_are_listed_with_their_device_and_can_be_ended(client, staff):
    chrome = cookie_from(client, CHROME)
    firefox = cookie_from(client, FIREFOX)
    page = client.get("/staff/account", headers=with_cookie(chrome)).text
    assert "Chrome on Windows</strong> (this one)" in page
    assert "Firefox on Linux</strong>" in page
    assert CHROME not in page  # only the label is kept
    assert [tuple(r) for r in query(client, "SELECT device FROM sessions ORDER BY rowid")] == [
        ("Chrome on Windows",),
        ("Firefox on Linux",),
    ]
    handles = HANDLE.findall(page)
    assert len(handles) == 2
    other = handles[1]  # the current session is listed first
    response = post(client, chrome, f"/staff/account/sessions/{other}/end")
    assert response.status_code == 303
    assert not is_signed_in(client, firefox) and is_signed_in(client, chrome)
    assert [r["actor"] for r in audit(client, "session_ended")] == [EMAIL]


def test_a_session_of_someone_else_cannot_be_ended(client, staff):
    add_staff(client, "doctor@example.org", NEW)
    client.cookies.clear()
    theirs = login(client, "doctor@example.org", NEW).cookies["aki_staff"]
    their_page = client.get("/staff/account", headers=with_cookie(theirs)).text
    [their_handle] = HANDLE.findall(their_page)
    mine = cookie_from(client)
    post(client, mine, f"/staff/account/sessions/{their_handle}/end")
    assert is_signed_in(client, theirs)
    assert audit(client, "session_ended") == []


def test_ending_the_current_session_signs_out(client, staff):
    cookie = cookie_from(client)
    [handle] = HANDLE.findall(client.get("/staff/account", headers=with_cookie(cookie)).text)
    response = post(client, cookie, f"/staff/account/sessions/{handle}/end")
    assert response.headers["location"] == "/staff/login"
    assert not is_signed_in(client, cookie)


def test_end_all_other_sessions(client, staff):
    keep = cookie_from(client)
    others = [cookie_from(client, FIREFOX) for _ in range(3)]
    response = post(client, keep, "/staff/account/sessions/end-others")
    assert response.headers["location"] == "/staff/account?done=others"
    assert is_signed_in(client, keep)
    assert not any(is_signed_in(client, c) for c in others)
    [entry] = audit(client, "sessions_ended")
    assert entry["detail"] == f"{EMAIL}: 3"


# --- changing one's password -------------------------------------------------------------------


def change(client, cookie, current=PASSWORD, new=NEW, repeat=None):
    return post(
        client,
        cookie,
        "/staff/account/password",
        current_password=current,
        new_password=new,
        repeat_password=new if repeat is None else repeat,
    )


def test_changing_the_password_keeps_this_session_and_ends_the_others(client, staff):
    here, elsewhere = cookie_from(client), cookie_from(client, FIREFOX)
    response = change(client, here)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/account?done=password"
    assert is_signed_in(client, here) and not is_signed_in(client, elsewhere)
    page = client.get("/staff/account?done=password", headers=with_cookie(here)).text
    assert "Your password has been changed." in page
    client.cookies.clear()
    assert login(client, EMAIL, PASSWORD).status_code == 400
    assert login(client, EMAIL, NEW).status_code == 303
    [entry] = audit(client, "password_changed")
    assert (entry["actor"], entry["staff_id"], entry["detail"]) == (EMAIL, staff, EMAIL)
    assert NEW not in str(audit(client)) and PASSWORD not in str(audit(client))


@pytest.mark.parametrize(
    ("current", "new", "repeat", "message"),
    [
        ("not-my-password-1", NEW, NEW, "Your current password is not right."),
        (PASSWORD, "short", "short", "Use at least 12 characters."),
        (PASSWORD, "password1234", "password1234", "Choose a less common password."),
        (PASSWORD, "nurse@example.org", "nurse@example.org", "Choose a less common password."),
        (PASSWORD, NEW, NEW + "x", "The two new passwords differ."),
    ],
)
def test_a_refused_change_says_why_and_changes_nothing(
    client, staff, current, new, repeat, message
):
    cookie = cookie_from(client)
    before = query(client, "SELECT password_hash FROM staff WHERE id = ?", (staff,))
    response = change(client, cookie, current, new, repeat)
    assert response.status_code == 422
    assert message in response.text.replace("&#39;", "'")
    assert query(client, "SELECT password_hash FROM staff WHERE id = ?", (staff,)) == before
    # Nothing typed into a password field comes back in the page.
    passwords = re.findall(r'<input[^>]*type="password"[^>]*>', response.text)
    assert len(passwords) == 3 and not any("value=" in field for field in passwords)
    assert current not in response.text
    assert is_signed_in(client, cookie)


def test_guessing_the_current_password_is_throttled(client, staff, clock):
    cookie = cookie_from(client)
    checks = []
    hasher = client.app.ctx.hasher
    real = hasher.verify

    async def verify(stored, password, *, trusted=False):
        checks.append(password)
        return await real(stored, password, trusted=trusted)

    hasher.verify = verify
    for i in range(8):
        response = change(client, cookie, current=f"guess-number-{i}")
    assert len(checks) == 5
    assert "Too many wrong passwords. Try again in 15 minutes." in response.text
    assert change(client, cookie).status_code == 422  # even the right one, for now
    clock.advance(minutes=15, seconds=1)
    assert change(client, cookie).status_code == 303


# --- CSRF and same-origin on every new form ----------------------------------------------------

NEW_FORMS = {
    "password": ("/staff/account/password", {"current_password": PASSWORD, "new_password": NEW,
                                             "repeat_password": NEW}),
    "setup": ("/staff/account/two-factor", {"setup": "x", "code": "123456"}),
    "mfa-off": ("/staff/account/two-factor/off", {"current_password": PASSWORD}),
    "codes": ("/staff/account/recovery-codes", {"current_password": PASSWORD}),
    "end-others": ("/staff/account/sessions/end-others", {}),
    "end-one": ("/staff/account/sessions/{handle}/end", {}),
    "invite": ("/staff/accounts/invite", {"email": "new@example.org"}),
    "disable": ("/staff/accounts/{other}/disable", {}),
    "make-admin": ("/staff/accounts/{other}/make-admin", {}),
    "reset-mfa": ("/staff/accounts/{other}/reset-two-factor", {}),
    "end-sessions": ("/staff/accounts/{other}/end-sessions", {}),
    "revoke": ("/staff/accounts/invitations/1/revoke", {}),
}  # fmt: skip


def snapshot(client) -> dict[str, list[tuple]]:
    tables = ("staff", "sessions", "invitations", "recovery_codes", "audit_log")
    return {t: [tuple(r) for r in query(client, f"SELECT * FROM {t}")] for t in tables}  # noqa: S608


@pytest.mark.parametrize("name", list(NEW_FORMS))
def test_every_new_form_needs_this_sessions_token_and_same_origin(client, name):
    admin = add_staff(client)  # the first account: an admin
    other = add_staff(client, "doctor@example.org", NEW)
    theirs = cookie_from(client, password=PASSWORD)
    client.cookies.clear()
    mine = cookie_from(client)
    page = client.get("/staff/account", headers=with_cookie(mine)).text
    handle = HANDLE.findall(page)[0]
    url, fields = NEW_FORMS[name]
    url = url.format(handle=handle, other=other)
    token, their_token = csrf_of(client, mine), csrf_of(client, theirs)
    attacks = {
        "missing": ({**fields, "other": "x"}, {}),
        "empty": ({**fields, "csrf": ""}, {}),
        "other-session": ({**fields, "csrf": their_token}, {}),
        "cross-site": ({**fields, "csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
        "origin": ({**fields, "csrf": token}, {"Origin": "https://evil.example"}),
    }
    before = snapshot(client)
    for attack, (data, extra) in attacks.items():
        response = client.post(
            url, data=data, headers=with_cookie(mine, **extra), follow_redirects=False
        )
        assert response.status_code == 403, (attack, response.status_code)
        assert snapshot(client) == before, attack
    assert admin and is_signed_in(client, mine)
