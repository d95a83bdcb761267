"""The sign-in forms that hold no session token (the code step, the invitation) are still
refused when another site posts them: the one same-origin check of `read_form` stands in for
the session's CSRF token, so a genuine pending sign-in or invitation link carried in a
cross-site form neither signs anyone in nor makes an account."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from tests.helpers import CSRF_FIELD, add_staff, login, query, with_cookie

CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
]
SECRET_TEXT = re.compile(r'id="totp-key">([A-Z2-7 ]+)<')
SETUP = re.compile(r'name="setup" value="([^"]+)"')
PENDING = re.compile(r'name="pending" value="([^"]+)"')
LINK = re.compile(r'id="invite-link">([^<]+)<')
NEW_PW = "granite-meadow-lantern-77"


def signed_in_cookie(client) -> str:
    client.cookies.clear()
    response = login(client)
    assert response.status_code == 303, response.text
    client.cookies.clear()
    return response.cookies["aki_staff"]


@pytest.fixture
def pending_with_code(client, clock) -> tuple[str, str]:
    """An account with two-factor on, its password step passed: (pending token, a code)."""
    add_staff(client)
    cookie = signed_in_cookie(client)
    page = client.get("/staff/account/two-factor", headers=with_cookie(cookie)).text
    secret = SECRET_TEXT.search(page)[1].replace(" ", "")
    data = {
        "csrf": CSRF_FIELD.search(page)[1],
        "setup": SETUP.search(page)[1],
        "code": pyotp.TOTP(secret).at(clock()),
    }
    enrolled = client.post("/staff/account/two-factor", data=data, headers=with_cookie(cookie))
    assert enrolled.status_code == 200
    clock.advance(seconds=30)
    client.cookies.clear()
    step = login(client)
    assert step.status_code == 200 and "aki_staff" not in step.cookies
    return PENDING.search(step.text)[1], pyotp.TOTP(secret).at(clock())


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_the_code_step_posted_from_another_site_signs_no_one_in(client, pending_with_code, headers):
    pending, code = pending_with_code
    sessions = query(client, "SELECT count(*) FROM sessions")[0][0]
    response = client.post(
        "/staff/login/code",
        data={"pending": pending, "code": code},
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "aki_staff" not in response.cookies
    assert query(client, "SELECT count(*) FROM sessions")[0][0] == sessions
    # The code was not spent: the same form from the site itself still signs in.
    same = client.post(
        "/staff/login/code",
        data={"pending": pending, "code": code},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert same.status_code == 303 and "aki_staff" in same.cookies


@pytest.fixture
def invitation_token(client) -> str:
    add_staff(client, "admin@example.org", "quarry-lantern-orbit-61")
    client.cookies.clear()
    response = login(client, "admin@example.org", "quarry-lantern-orbit-61")
    cookie = response.cookies["aki_staff"]
    client.cookies.clear()
    page = client.get("/staff/account", headers=with_cookie(cookie)).text
    invited = client.post(
        "/staff/accounts/invite",
        data={"csrf": CSRF_FIELD.search(page)[1], "email": "newcomer@example.org"},
        headers=with_cookie(cookie),
    )
    assert invited.status_code == 200
    url = LINK.search(invited.text)[1].replace("&amp;", "&")
    client.cookies.clear()
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_an_invitation_accepted_from_another_site_makes_no_account(
    client, invitation_token, headers
):
    data = {"token": invitation_token, "new_password": NEW_PW, "repeat_password": NEW_PW}
    response = client.post("/staff/invitation", data=data, headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert "aki_staff" not in response.cookies
    assert query(client, "SELECT email FROM staff WHERE email = 'newcomer@example.org'") == []
    # The link is still good for the invited person on the site itself.
    same = client.post(
        "/staff/invitation",
        data=data,
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert same.status_code == 303 and "aki_staff" in same.cookies
