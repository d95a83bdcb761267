"""Two-factor sign-in with a fixed clock: set-up, valid, expired and replayed codes, recovery
codes used once, throttling, STAFF_MFA=required, and the command line's reset-mfa."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx2
import pyotp
import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import (
    CSRF_FIELD,
    EMAIL,
    PASSWORD,
    add_staff,
    audit,
    cli_environment,
    is_signed_in,
    login,
    query,
    with_cookie,
)
from webapp import accounts, cli
from webapp.app import create_app

SECRET_TEXT = re.compile(r'id="totp-key">([A-Z2-7 ]+)<')
SETUP = re.compile(r'name="setup" value="([^"]+)"')
PENDING = re.compile(r'name="pending" value="([^"]+)"')
CODE = re.compile(r"<li>([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})</li>")


def sign_in_cookie(client: TestClient) -> str:
    client.cookies.clear()
    response = login(client)
    assert response.status_code == 303
    client.cookies.clear()
    return response.cookies["aki_staff"]


def enrol(client: TestClient, clock) -> tuple[str, list[str], str]:
    """Set up two-factor as a person would; returns (secret, recovery codes, cookie)."""
    cookie = sign_in_cookie(client)
    page = client.get("/staff/account/two-factor", headers=with_cookie(cookie))
    assert page.status_code == 200
    secret = SECRET_TEXT.search(page.text)[1].replace(" ", "")
    assert f"secret={secret}" in page.text  # the otpauth:// URI, as text
    assert 'src="data:image/svg+xml;base64,' in page.text  # the QR code
    response = client.post(
        "/staff/account/two-factor",
        data={
            "csrf": CSRF_FIELD.search(page.text)[1],
            "setup": SETUP.search(page.text)[1],
            "code": pyotp.TOTP(secret).at(clock()),
        },
        headers=with_cookie(cookie),
    )
    assert response.status_code == 200, response.text
    codes = CODE.findall(response.text)
    assert len(codes) == 10
    return secret, codes, cookie


def password_step(client: TestClient, **headers: str) -> str:
    """Sign in with the password; returns the pending token of the code step."""
    response = login(client, headers=headers)
    assert response.status_code == 200, response.status_code
    assert "Code from your authenticator app" in response.text
    assert "aki_staff" not in response.cookies
    return PENDING.search(response.text)[1]


def code_step(client: TestClient, pending: str, code: str, **headers: str):
    return client.post(
        "/staff/login/code",
        data={"pending": pending, "code": code},
        headers=headers,
        follow_redirects=False,
    )


@pytest.fixture
def staff(client) -> int:
    add_staff(client, "admin@example.org", "quarry-lantern-orbit-61")
    return add_staff(client)


@pytest.fixture
def enrolled(client, staff, clock):
    secret, codes, _ = enrol(client, clock)
    clock.advance(seconds=30)  # the code used to set up is spent; the next one is due
    client.cookies.clear()
    return secret, codes


# --- set-up ------------------------------------------------------------------------------------


def test_set_up_stores_the_secret_and_hashed_recovery_codes(client, staff, clock):
    secret, codes, cookie = enrol(client, clock)
    [row] = query(client, "SELECT totp_secret, totp_last_step FROM staff WHERE id = ?", (staff,))
    assert row[0] == secret and row[1] == int(clock().timestamp()) // 30
    stored = [r[0] for r in query(client, "SELECT code_hash FROM recovery_codes")]
    assert len(stored) == 10 and not any(c.replace("-", "") in "".join(stored) for c in codes)
    assert [e["actor"] for e in audit(client, "mfa_enabled")] == [EMAIL]
    page = client.get("/staff/account", headers=with_cookie(cookie)).text
    assert "You have 10 unused recovery codes." in page


def test_a_wrong_set_up_code_keeps_the_same_secret(client, staff, clock):
    cookie = sign_in_cookie(client)
    page = client.get("/staff/account/two-factor", headers=with_cookie(cookie)).text
    secret = SECRET_TEXT.search(page)[1]
    data = {"csrf": CSRF_FIELD.search(page)[1], "setup": SETUP.search(page)[1], "code": "000000"}
    response = client.post("/staff/account/two-factor", data=data, headers=with_cookie(cookie))
    assert response.status_code == 422
    assert "That code does not match" in response.text
    assert SECRET_TEXT.search(response.text)[1] == secret
    assert query(client, "SELECT totp_secret FROM staff WHERE id = ?", (staff,))[0][0] is None


def test_a_set_up_token_is_bound_to_its_account_and_expires(client, staff, clock):
    other = add_staff(client, "doctor@example.org", "granite-meadow-lantern-77")
    theirs = client.app.ctx.mfa_setup.issue(other, "A" * 32, clock())
    cookie = sign_in_cookie(client)
    token = CSRF_FIELD.search(client.get("/staff/account", headers=with_cookie(cookie)).text)[1]
    code = pyotp.TOTP("A" * 32).at(clock())
    response = client.post("/staff/account/two-factor",
                           data={"csrf": token, "setup": theirs, "code": code},
                           headers=with_cookie(cookie))  # fmt: skip
    assert response.status_code == 422 and "That set-up had expired" in response.text
    mine = client.app.ctx.mfa_setup.issue(staff, "A" * 32, clock())
    clock.advance(minutes=20)
    assert is_signed_in(client, cookie)  # the person is busy; the set-up is not finished
    clock.advance(minutes=11)
    code = pyotp.TOTP("A" * 32).at(clock())
    response = client.post("/staff/account/two-factor",
                           data={"csrf": token, "setup": mine, "code": code},
                           headers=with_cookie(cookie))  # fmt: skip
    assert response.status_code == 422 and "That set-up had expired" in response.text
    assert query(client, "SELECT count(*) FROM staff WHERE totp_secret IS NOT NULL")[0][0] == 0


# --- signing in with a code --------------------------------------------------------------------


def test_a_valid_code_signs_in(client, enrolled, clock):
    secret, _ = enrolled
    pending = password_step(client)
    response = code_step(client, pending, pyotp.TOTP(secret).at(clock()))
    assert response.status_code == 303 and response.headers["location"] == "/staff"
    assert is_signed_in(client, response.cookies["aki_staff"])


def test_a_code_from_the_previous_step_still_works(client, enrolled, clock):
    secret, _ = enrolled
    pending = password_step(client)
    previous = pyotp.TOTP(secret).at(clock() - timedelta(seconds=30))
    assert code_step(client, pending, previous).status_code == 400  # that step was used up
    clock.advance(seconds=30)
    previous = pyotp.TOTP(secret).at(clock() - timedelta(seconds=30))
    assert code_step(client, password_step(client), previous).status_code == 303


def test_an_expired_code_is_refused(client, enrolled, clock):
    secret, _ = enrolled
    old = pyotp.TOTP(secret).at(clock())
    clock.advance(seconds=90)
    response = code_step(client, password_step(client), old)
    assert response.status_code == 400
    assert "That code is not right, or has been used already." in response.text
    assert "aki_staff" not in response.cookies
    assert [e["action"] for e in audit(client) if e["action"] == "mfa_failed"] == ["mfa_failed"]


def test_a_code_is_accepted_once_even_20_times_at_once(settings, clock):
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        add_staff(client)
        secret, _, _ = enrol(client, clock)
        clock.advance(seconds=30)
        client.cookies.clear()
        pendings = [password_step(client) for _ in range(20)]
        code = pyotp.TOTP(secret).at(clock())

        async def burst():
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await asyncio.gather(
                    *(c.post("/staff/login/code", data={"pending": p, "code": code})
                      for p in pendings)
                )  # fmt: skip

        responses = client.portal.call(burst)
        # One signs in; the replays are failures, so after five the account's code limit
        # refuses the rest outright.
        assert sorted(r.status_code for r in responses) == [303] + [400] * 5 + [429] * 14
        clock.advance(minutes=15, seconds=1)
        # And later, the same code again (a replay within its window): refused.
        pending = password_step(client)
        clock.advance(seconds=-(15 * 60 + 1))
        assert code_step(client, pending, code).status_code == 400


def test_a_recovery_code_works_once(client, enrolled):
    _, codes = enrolled
    response = code_step(client, password_step(client), codes[3].lower().replace("-", " "))
    assert response.status_code == 303
    assert [e["action"] for e in audit(client) if e["action"] == "recovery_code_used"] == [
        "recovery_code_used"
    ]
    client.cookies.clear()
    again = code_step(client, password_step(client), codes[3])
    assert again.status_code == 400
    assert query(client, "SELECT count(*) FROM recovery_codes WHERE used_at IS NULL")[0][0] == 9


def test_codes_are_throttled_like_passwords(client, enrolled, clock):
    secret, _ = enrolled
    pending = password_step(client)
    for n in range(5):
        assert code_step(client, pending, f"00000{n}").status_code == 400
    right = pyotp.TOTP(secret).at(clock())
    refused = code_step(client, pending, right)
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    assert len(audit(client, "login_locked")) == 1
    clock.advance(minutes=15, seconds=1)
    assert (
        code_step(client, password_step(client), pyotp.TOTP(secret).at(clock())).status_code == 303
    )


def test_the_pending_sign_in_expires_and_ends_with_a_password_change(client, enrolled, clock):
    secret, _ = enrolled
    pending = password_step(client)
    clock.advance(minutes=11)
    late = code_step(client, pending, pyotp.TOTP(secret).at(clock()))
    assert late.status_code == 400 and "That sign-in has expired" in late.text
    pending = password_step(client)
    state = client.app.ctx
    new_hash = state.hasher.hash_sync("granite-meadow-lantern-77")
    client.portal.call(accounts.set_password, state.db, 2, new_hash, accounts.CLI, clock())
    response = code_step(client, pending, pyotp.TOTP(secret).at(clock()))
    assert response.status_code == 400 and "That sign-in has expired" in response.text


@pytest.mark.parametrize("pending", ["", "junk", "x" * 900])
def test_a_forged_pending_token_is_refused(client, enrolled, pending):
    response = code_step(client, pending, "123456")
    assert response.status_code == 400 and "aki_staff" not in response.cookies


def test_turning_two_factor_off_and_new_recovery_codes(client, enrolled, clock):
    secret, codes = enrolled
    response = code_step(client, password_step(client), pyotp.TOTP(secret).at(clock()))
    cookie = response.cookies["aki_staff"]
    client.cookies.clear()
    token = CSRF_FIELD.search(client.get("/staff/account", headers=with_cookie(cookie)).text)[1]
    fresh = client.post("/staff/account/recovery-codes",
                        data={"csrf": token, "current_password": PASSWORD},
                        headers=with_cookie(cookie))  # fmt: skip
    new_codes = CODE.findall(fresh.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    wrong = client.post("/staff/account/two-factor/off",
                        data={"csrf": token, "current_password": "not-it-at-all"},
                        headers=with_cookie(cookie))  # fmt: skip
    assert wrong.status_code == 422
    off = client.post("/staff/account/two-factor/off",
                      data={"csrf": token, "current_password": PASSWORD},
                      headers=with_cookie(cookie), follow_redirects=False)  # fmt: skip
    assert off.status_code == 303
    assert query(client, "SELECT count(*) FROM recovery_codes")[0][0] == 0
    client.cookies.clear()
    assert login(client).status_code == 303  # no code asked
    assert [e["action"] for e in audit(client) if e["action"].startswith(("mfa_", "recovery"))] == [
        "mfa_enabled", "recovery_codes_new", "mfa_disabled"]  # fmt: skip


def test_an_admin_resets_someones_two_factor(client, enrolled, clock):
    client.cookies.clear()
    admin = login(client, "admin@example.org", "quarry-lantern-orbit-61").cookies["aki_staff"]
    client.cookies.clear()
    token = CSRF_FIELD.search(client.get("/staff/account", headers=with_cookie(admin)).text)[1]
    response = client.post("/staff/accounts/2/reset-two-factor", data={"csrf": token},
                           headers=with_cookie(admin), follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    [entry] = audit(client, "mfa_reset")
    assert (entry["actor"], entry["detail"]) == ("admin@example.org", EMAIL)
    assert login(client).status_code == 303


# --- STAFF_MFA=required --------------------------------------------------------------------------


@pytest.fixture
def required(tmp_path, clock):
    app = create_app(make_settings(tmp_path, staff_mfa="required"), clock=clock)
    with TestClient(app) as client:
        add_staff(client)
        yield client


def test_required_two_factor_must_be_set_up_before_anything_else(required, clock):
    client = required
    cookie = sign_in_cookie(client)
    for path in ("/staff", "/staff/hours", "/staff/account", "/staff/accounts"):
        response = client.get(path, headers=with_cookie(cookie), follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/staff/account/two-factor"
    htmx = client.get("/staff", headers=with_cookie(cookie, **{"HX-Request": "true"}))
    assert htmx.headers.get("hx-redirect") == "/staff/account/two-factor"
    page = client.get("/staff/account/two-factor", headers=with_cookie(cookie))
    assert "Two-factor sign-in is required" in page.text
    assert "Not now" not in page.text
    enrol_with(client, cookie, page.text, clock)
    assert client.get("/staff", headers=with_cookie(cookie)).status_code == 200
    token = CSRF_FIELD.search(client.get("/staff/account", headers=with_cookie(cookie)).text)[1]
    off = client.post("/staff/account/two-factor/off",
                      data={"csrf": token, "current_password": PASSWORD},
                      headers=with_cookie(cookie))  # fmt: skip
    assert off.status_code == 422 and "required here" in off.text


def enrol_with(client, cookie, page, clock):
    secret = SECRET_TEXT.search(page)[1].replace(" ", "")
    data = {"csrf": CSRF_FIELD.search(page)[1], "setup": SETUP.search(page)[1],
            "code": pyotp.TOTP(secret).at(clock())}  # fmt: skip
    response = client.post("/staff/account/two-factor", data=data, headers=with_cookie(cookie))
    assert response.status_code == 200


# --- the command line --------------------------------------------------------------------------


def test_reset_mfa_on_the_command_line(tmp_path, monkeypatch, capsys, clock):
    path = cli_environment(tmp_path, monkeypatch)
    app = create_app(make_settings(tmp_path, database_path=path), clock=clock)
    with TestClient(app) as client:
        add_staff(client)
        enrol(client, clock)
        assert cli.main(["reset-mfa", EMAIL], clock=clock) == 0
        out = capsys.readouterr().out
        assert (
            out == f"two-factor sign-in reset for {EMAIL}; they set it up again at next sign-in\n"
        )
        assert cli.main(["reset-mfa", EMAIL], clock=clock) == 0
        assert capsys.readouterr().out == f"{EMAIL} had no two-factor sign-in\n"
        assert cli.main(["reset-mfa", "nobody@example.org"], clock=clock) == 1
        [entry] = audit(client, "mfa_reset")
        assert (entry["actor"], entry["detail"]) == ("command line", EMAIL)
        client.cookies.clear()
        assert login(client).status_code == 303


@pytest.mark.parametrize(
    ("https", "mfa", "warned"),
    [("true", "optional", True), ("true", "required", False), ("false", "optional", False)],
)
def test_check_warns_when_https_only_runs_with_optional_two_factor(
    tmp_path, monkeypatch, capsys, https, mfa, warned
):
    cli_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("HTTPS_ONLY", https)
    monkeypatch.setenv("STAFF_MFA", mfa)
    cli.main(["check"])
    out = capsys.readouterr().out
    assert ("STAFF_MFA=required" in out) is warned


def test_a_bad_staff_mfa_setting_stops_the_start(tmp_path, monkeypatch, capsys):
    cli_environment(tmp_path, monkeypatch)
    monkeypatch.setenv("STAFF_MFA", "sometimes")
    assert cli.main(["check"]) == 2
    assert (
        capsys.readouterr().err
        == "error: STAFF_MFA must be required or optional, not 'sometimes'\n"
    )


# --- the sign-in dialog (an action sent after the session ended) ---------------------------------

NEW_CSRF = re.compile(r'data-new-csrf="([^"]+)"')


def dialog_login(client, password=PASSWORD):
    token = client.app.ctx.login_tokens.issue(client.app.ctx.clock())
    return client.post(
        "/staff/login",
        data={"token": token, "next": "/staff", "via": "dialog", "email": EMAIL,
              "password": password},
        headers={"HX-Request": "true"}, follow_redirects=False,
    )  # fmt: skip


def test_the_dialog_signs_in_with_fragments_and_hands_over_the_new_token(client, staff):
    wrong = dialog_login(client, "not-the-password")
    assert wrong.status_code == 400 and "<html" not in wrong.text
    assert 'name="via" value="dialog"' in wrong.text and 'role="alert"' in wrong.text
    done = dialog_login(client)
    assert done.status_code == 200 and "<html" not in done.text
    cookie = done.cookies["aki_staff"]
    client.cookies.clear()
    page = client.get("/staff/account", headers=with_cookie(cookie)).text
    assert NEW_CSRF.search(done.text)[1] == CSRF_FIELD.search(page)[1]
    assert "aki_device" in done.cookies


def test_the_dialog_asks_for_the_code_when_the_account_has_two_factor(client, enrolled, clock):
    secret, _ = enrolled
    step = dialog_login(client)
    assert step.status_code == 200 and "<html" not in step.text
    assert 'action="/staff/login/code"' in step.text and 'name="via" value="dialog"' in step.text
    done = client.post(
        "/staff/login/code",
        data={"pending": PENDING.search(step.text)[1], "via": "dialog",
              "code": pyotp.TOTP(secret).at(clock())},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 200 and NEW_CSRF.search(done.text)
    assert is_signed_in(client, done.cookies["aki_staff"])
