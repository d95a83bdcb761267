"""The staff pages of sign-in, accounts and two-factor, in each of their states, are valid
HTML by the Nu HTML checker (the sign-in dialog too, inside the page it appears on)."""

from __future__ import annotations

import re

import pyotp

from tests.conftest import make_settings
from tests.helpers import CSRF_FIELD, HX, add_request, add_staff, login, with_cookie
from tests.nu import nu_problems
from webapp.app import create_app

SETUP = re.compile(r'name="setup" value="([^"]+)"')
KEY = re.compile(r'id="totp-key">([A-Z2-7 ]+)<')


def test_staff_account_pages_are_valid_html(client, clock, tmp_path):
    pages: dict[str, str] = {}
    add_staff(client, "admin@example.org", "quarry-lantern-orbit-61")
    add_staff(client)
    pages["login"] = client.get("/staff/login").text
    pages["login-error"] = login(client, password="wrong-password-1").text
    admin = login(client, "admin@example.org", "quarry-lantern-orbit-61").cookies["aki_staff"]
    client.cookies.clear()
    headers = with_cookie(admin)
    token = CSRF_FIELD.search(client.get("/staff/account", headers=headers).text)[1]
    pages["accounts"] = client.get("/staff/accounts", headers=headers).text
    invited = client.post("/staff/accounts/invite", data={"csrf": token, "email": "n@example.org"},
                          headers=headers)  # fmt: skip
    pages["accounts-invited"] = invited.text
    link = re.search(r'id="invite-link">[^<]*token=([^<]+)<', invited.text)[1]
    pages["accounts-error"] = client.post(
        "/staff/accounts/1/make-staff", data={"csrf": token}, headers=headers
    ).text
    pages["account"] = client.get("/staff/account", headers=headers).text
    pages["account-error"] = client.post(
        "/staff/account/password",
        data={"csrf": token, "current_password": "x", "new_password": "y", "repeat_password": "y"},
        headers=headers,
    ).text
    setup = client.get("/staff/account/two-factor", headers=headers).text
    pages["two-factor"] = setup
    secret = KEY.search(setup)[1].replace(" ", "")
    pages["two-factor-error"] = client.post(
        "/staff/account/two-factor",
        data={"csrf": token, "setup": SETUP.search(setup)[1], "code": "000000"},
        headers=headers,
    ).text
    pages["recovery-codes"] = client.post(
        "/staff/account/two-factor",
        data={
            "csrf": token,
            "setup": SETUP.search(setup)[1],
            "code": pyotp.TOTP(secret).at(clock()),
        },
        headers=headers,
    ).text
    pages["account-mfa-on"] = client.get("/staff/account", headers=headers).text
    clock.advance(seconds=30)
    pages["login-code"] = login(client, "admin@example.org", "quarry-lantern-orbit-61").text
    pending = re.search(r'name="pending" value="([^"]+)"', pages["login-code"])[1]
    pages["login-code-error"] = client.post(
        "/staff/login/code", data={"pending": pending, "code": "000000"}
    ).text
    client.cookies.clear()
    pages["invitation"] = client.get(f"/staff/invitation?token={link}").text
    pages["invitation-gone"] = client.get("/staff/invitation?token=nope").text
    # The sign-in dialog, appended to a staff page as htmx does. (It answers actions on the
    # request page; that page's own markup is checked with the dashboard's.)
    nurse = login(client).cookies["aki_staff"]
    client.cookies.clear()
    request_id = add_request(client, email="ann@example.org")
    page = client.get("/staff/account", headers=with_cookie(nurse)).text
    pages["forbidden"] = client.get("/staff/accounts", headers=with_cookie(nurse)).text
    dialog = client.post(f"/staff/requests/{request_id}/notes", data={"csrf": "x", "note": "n"},
                         headers=HX).text  # fmt: skip
    assert '<dialog id="reauth"' in dialog
    pages["page-with-dialog"] = page.replace("</body>", dialog + "</body>")
    problems = nu_problems(pages, tmp_path)
    assert problems == [], "\n".join(problems)


def test_the_required_set_up_page_is_valid_html(tmp_path, clock):
    from starlette.testclient import TestClient

    app = create_app(make_settings(tmp_path, staff_mfa="required"), clock=clock)
    with TestClient(app) as client:
        add_staff(client)
        text = client.get("/staff/account/two-factor", headers=with_cookie(
            login(client).cookies["aki_staff"])).text  # fmt: skip
    problems = nu_problems({"required": text}, tmp_path)
    assert problems == [], "\n".join(problems)
