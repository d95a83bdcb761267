"""The states of the account pages that test_browser_accounts.py does not reach, in a real
Chromium with axe on each: STAFF_MFA=required (the set-up page before anything else), the
sign-in dialog's code step when a session expires, "done" messages, recovery codes made
again, an admin's change confirmed, an invitation with a refused password, and a locked-out
sign-in page. A note typed before the expiry is still sent after the code step."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .conftest import (
    LiveServer,
    Tab,
    add_request,
    add_staff,
    csp_violations,
    fresh_context,
    no_axe_violations,
    sign_in,
    watch,
)

pytestmark = pytest.mark.browser

LIVE_SETTINGS = {"staff_mfa": "required"}
ADMIN, ADMIN_PW = "admin.states@example.org", "quarry-lantern-orbit-61"
NURSE, NURSE_PW = "nurse.states@example.org", "copper-lantern-meadow-58"
LOCKED, LOCKED_PW = "locked.states@example.org", "granite-meadow-lantern-77"
STAMP = "2026-11-01T15:00:00.000000Z"
NOTE = "Spoke with her partner; she will call back on Friday."


@pytest.fixture(scope="module")
def accounts(live_server: LiveServer) -> None:
    add_staff(live_server, (ADMIN, ADMIN_PW, "admin"), (NURSE, NURSE_PW, "staff"),
              (LOCKED, LOCKED_PW, "staff"))  # fmt: skip


@pytest.fixture
def context(browser: Browser, live: LiveServer, accounts: None) -> Iterator[BrowserContext]:
    with fresh_context(browser, live) as ctx:
        yield ctx


def set_up_required_two_factor(page: Page, live: LiveServer, state: str) -> str:
    """Signed in without two-factor where it is required: the set-up page comes first.
    Returns the secret."""
    expect(page).to_have_url(re.compile(r"/staff/account/two-factor$"))
    expect(page.locator("h1")).to_have_text("Set up two-factor sign-in")
    no_axe_violations(page, state)
    secret = page.locator("#totp-key").inner_text().replace(" ", "")
    page.get_by_label("Enter the six-digit code the app now shows").fill(
        pyotp.TOTP(secret).at(live.clock())
    )
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator("h1")).to_have_text("Your recovery codes")
    page.get_by_role("link", name=re.compile("back to your account")).click()
    expect(page.locator("h1")).to_have_text("Your account")
    return secret


def test_required_set_up_the_dialogs_code_step_and_done_messages(
    context: BrowserContext, live: LiveServer
):
    page = context.new_page()
    console = watch(page)
    sign_in(page, NURSE, NURSE_PW)
    secret = set_up_required_two_factor(page, live, "two-factor set-up, required")

    page.get_by_label("Current password").first.fill(NURSE_PW)
    page.get_by_label("New password", exact=True).fill("river-stone-garden-84")
    page.get_by_label("New password again").fill("river-stone-garden-84")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("p.done[role=status]")).to_contain_text("Your password has been changed.")
    no_axe_violations(page, "account page, password changed")

    page.locator("#codes-password").fill("river-stone-garden-84")
    page.get_by_role("button", name="Make new recovery codes").click()
    expect(page.locator("h1")).to_have_text("Your recovery codes")
    expect(page.locator("ol.codes li")).to_have_count(10)
    no_axe_violations(page, "recovery codes made again")

    # The session expires while a note is being typed; the dialog asks for the code too.
    request_id, _ = add_request(live, "Robin States", email="robin@example.org", created=STAMP)
    tab = Tab(page, f"/staff/requests/{request_id}")
    page.locator("#note").fill(NOTE)
    live.clock.advance(minutes=31)
    add = page.get_by_role("button", name="Add note")
    add.click()
    dialog = page.get_by_role("dialog", name="Sign in again")
    expect(page.locator("#login-email")).to_be_focused()
    page.locator("#login-email").fill(NURSE)
    page.locator("#login-password").fill("river-stone-garden-84")
    page.locator("#login-password").press("Enter")
    expect(dialog.locator("#login-code")).to_be_focused()
    no_axe_violations(page, "the sign-in dialog, code step")
    dialog.locator("#login-code").fill("000000")
    dialog.get_by_role("button", name="Continue").click()
    expect(dialog.get_by_role("alert")).to_contain_text("That code is not right")
    no_axe_violations(page, "the sign-in dialog, code step with an error")
    dialog.locator("#login-code").fill(pyotp.TOTP(secret).at(live.clock()))
    dialog.get_by_role("button", name="Continue").click()
    expect(dialog.get_by_role("status")).to_contain_text("You are signed in again.")
    dialog.get_by_role("button", name="Back to the page").click()
    expect(page.locator("#note")).to_have_value(NOTE)
    add.click()
    expect(page.locator("#request-detail ol.notes > li .note-body")).to_have_text(NOTE)
    tab.assert_not_reloaded()
    assert csp_violations(page) == []
    assert [e for e in console.errors if "status of 40" not in e] == []


def test_an_admins_change_a_refused_invitation_password_and_a_locked_sign_in(
    context: BrowserContext, live: LiveServer
):
    page = context.new_page()
    console = watch(page)
    sign_in(page, ADMIN, ADMIN_PW)
    set_up_required_two_factor(page, live, "two-factor set-up, required, admin")
    page.goto("/staff/accounts")
    page.get_by_role("button", name=f"Make admin for {LOCKED}").click()
    expect(page.locator("p.done[role=status]")).to_be_visible()
    no_axe_violations(page, "accounts page, a change confirmed")

    page.get_by_label("Their email address").fill("newcomer.states@example.org")
    page.get_by_role("button", name="Make an invitation link").click()
    link = page.locator("#invite-link").inner_text()
    other = context.browser.new_context(base_url=live.url)
    try:
        newcomer = other.new_page()
        newcomer.goto(link)
        newcomer.get_by_label("Password", exact=True).fill("lichen-harbor-sparrow-19")
        newcomer.get_by_label("Password again").fill("lichen-harbor-sparrow-91")
        newcomer.get_by_role("button", name="Create my account").click()
        expect(newcomer.get_by_role("alert")).to_contain_text("The two passwords differ")
        no_axe_violations(newcomer, "invitation page, password refused")

        # Five wrong passwords from a browser with no device cookie: the sixth try is refused.
        for attempt in range(6):
            sign_in(newcomer, LOCKED, f"not-the-password-{attempt}")
        expect(newcomer.get_by_role("alert")).to_contain_text("Too many failed attempts")
        no_axe_violations(newcomer, "sign-in page, locked out")
    finally:
        other.close()
    assert csp_violations(page) == []
    assert [e for e in console.errors if "status of 4" not in e] == []
