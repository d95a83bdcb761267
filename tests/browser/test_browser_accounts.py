"""Accounts, two-factor sign-in and the sign-in dialog in a real Chromium, with axe on every
page and state. The headline: a note being typed when the session expires is kept; the
person signs in again in a dialog on the same page and sends it without retyping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from .conftest import (
    LiveServer,
    Tab,
    add_request,
    add_staff,
    connect,
    csp_violations,
    fresh_context,
    no_axe_violations,
    sign_in,
    watch,
)

pytestmark = pytest.mark.browser

ADMIN, ADMIN_PW = "admin.browser@example.org", "quarry-lantern-orbit-61"
NURSE, NURSE_PW = "nurse.dialog@example.org", "copper-lantern-meadow-58"
MFA_USER, MFA_PW = "two.factor@example.org", "granite-meadow-lantern-77"
STAMP = "2026-11-01T15:00:00.000000Z"
NOTE = "Called at 10:40; left a voicemail.\nWill try again after lunch."


@pytest.fixture(scope="module")
def accounts(live_server: LiveServer) -> None:
    add_staff(live_server, (ADMIN, ADMIN_PW, "admin"), (NURSE, NURSE_PW, "staff"),
              (MFA_USER, MFA_PW, "staff"))  # fmt: skip


@pytest.fixture
def context(browser: Browser, live: LiveServer, accounts: None) -> Iterator[BrowserContext]:
    with fresh_context(browser, live) as ctx:
        yield ctx


def notes_of(live: LiveServer, request_id: int) -> list[tuple[str, str]]:
    with closing(connect(live)) as conn:
        return conn.execute(
            "SELECT n.body, s.email FROM notes n JOIN staff s ON s.id = n.staff_id"
            " WHERE n.consultation_id = ?",
            (request_id,),
        ).fetchall()


def test_a_note_typed_when_the_session_expires_is_kept(context: BrowserContext, live: LiveServer):
    request_id, _ = add_request(live, "Dana Dialog", email="dana@example.org", created=STAMP)
    page = context.new_page()
    console = watch(page)
    sign_in(page, NURSE, NURSE_PW)
    expect(page).to_have_url(re.compile(r"/staff$"))
    tab = Tab(page, f"/staff/requests/{request_id}")
    page.locator("#note").fill(NOTE)
    live.clock.advance(minutes=31)  # away from the desk: the session expires

    add = page.get_by_role("button", name="Add note")
    add.click()
    dialog = page.get_by_role("dialog", name="Sign in again")
    expect(dialog).to_be_visible()
    expect(page.locator("#login-email")).to_be_focused()
    expect(dialog).to_contain_text("What you typed is still on the page")
    no_axe_violations(page, "the sign-in dialog")
    # Escape closes it; the note is still there, focus back on the button.
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page.locator("#note")).to_have_value(NOTE)
    expect(add).to_be_focused()

    add.click()  # still signed out: the dialog again (once)
    expect(page.locator("dialog.reauth")).to_have_count(1)
    page.locator("#login-email").fill(NURSE)
    page.locator("#login-password").fill("not-the-password")
    page.locator("#login-password").press("Enter")
    expect(dialog.get_by_role("alert")).to_have_text(
        "That email and password do not match an active account."
    )
    no_axe_violations(page, "the sign-in dialog with an error")
    page.locator("#login-password").fill(NURSE_PW)
    page.locator("#login-password").press("Enter")
    done = dialog.get_by_role("status")
    expect(done).to_contain_text("You are signed in again.")
    back = dialog.get_by_role("button", name="Back to the page")
    expect(back).to_be_focused()
    no_axe_violations(page, "the sign-in dialog, signed in")
    back.click()
    expect(page.locator("dialog.reauth")).to_have_count(0)
    expect(add).to_be_focused()
    expect(page.locator("#note")).to_have_value(NOTE)

    add.click()  # the same action, nothing retyped
    expect(page.locator("#request-detail ol.notes > li .note-body")).to_have_text(NOTE)
    expect(page.locator("#note")).to_have_value("")
    assert notes_of(live, request_id) == [(NOTE, NURSE)]
    tab.assert_not_reloaded()
    assert csp_violations(page) == []
    # Chromium logs the 401 and 400 answers themselves as failed loads.
    assert [e for e in console.errors if "status of 40" not in e] == []


def test_a_status_change_after_expiry_is_sent_again_after_signing_in(
    context: BrowserContext, live: LiveServer
):
    request_id, _ = add_request(live, "Dana Dialog", email="dana@example.org", created=STAMP)
    page = context.new_page()
    sign_in(page, NURSE, NURSE_PW)
    expect(page).to_have_url(re.compile(r"/staff$"))
    Tab(page, f"/staff/requests/{request_id}")
    live.clock.advance(minutes=31)
    page.get_by_role("button", name="Mark contacted").click()
    expect(page.locator("#login-email")).to_be_focused()
    page.locator("#login-email").fill(NURSE)
    page.locator("#login-password").fill(NURSE_PW)
    page.get_by_role("dialog").get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Back to the page").click()
    page.get_by_role("button", name="Mark contacted").click()
    expect(page.locator("#status-title .status")).to_have_text("Contacted")


def test_account_pages_and_two_factor_in_the_browser(context: BrowserContext, live: LiveServer):
    page = context.new_page()
    console = watch(page)
    sign_in(page, MFA_USER, MFA_PW)
    expect(page).to_have_url(re.compile(r"/staff$"))
    page.get_by_role("link", name="Your account").click()
    expect(page.locator("h1")).to_have_text("Your account")
    expect(page.get_by_text("(this one)")).to_be_visible()
    no_axe_violations(page, "account page")

    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("river-stone-garden-84")
    page.get_by_label("New password again").fill("river-stone-garden-84")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("Your current password is not right.")
    no_axe_violations(page, "account page with an error")

    page.get_by_role("link", name="Set up two-factor sign-in").click()
    expect(page.locator("h1")).to_have_text("Set up two-factor sign-in")
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 100  # the SVG really loads under the CSP
    no_axe_violations(page, "two-factor set-up")
    secret = page.locator("#totp-key").inner_text().replace(" ", "")
    page.get_by_label("Enter the six-digit code the app now shows").fill("000000")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code does not match")
    no_axe_violations(page, "two-factor set-up with an error")
    page.get_by_label("Enter the six-digit code the app now shows").fill(
        pyotp.TOTP(secret).at(live.clock())
    )
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator("h1")).to_have_text("Your recovery codes")
    codes = page.locator("ol.codes li")
    expect(codes).to_have_count(10)
    no_axe_violations(page, "recovery codes")
    recovery = codes.nth(0).inner_text()

    # Sign out, and in again: the password, then a code.
    page.get_by_role("button", name=re.compile("^Sign out")).click()
    live.clock.advance(seconds=30)
    sign_in(page, MFA_USER, MFA_PW)
    expect(page.locator("#login-code")).to_be_focused()
    no_axe_violations(page, "sign-in, code step")
    page.locator("#login-code").fill("123456")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    no_axe_violations(page, "sign-in, code step with an error")
    page.locator("#login-code").fill(recovery)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/staff$"))
    page.goto("/staff/account")
    expect(page.get_by_text("You have 9 unused recovery codes.")).to_be_visible()
    no_axe_violations(page, "account page, two-factor on")
    assert csp_violations(page) == []
    assert [e for e in console.errors if "status of 4" not in e] == []


def test_admin_pages_in_the_browser(context: BrowserContext, live: LiveServer):
    page = context.new_page()
    console = watch(page)
    sign_in(page, ADMIN, ADMIN_PW)
    expect(page).to_have_url(re.compile(r"/staff$"))
    page.get_by_role("link", name="Accounts").click()
    expect(page.locator("h1")).to_have_text("Accounts")
    expect(page.locator("table.accounts tbody tr")).to_have_count(3)
    no_axe_violations(page, "accounts page")

    page.get_by_label("Their email address").fill("newcomer.browser@example.org")
    page.get_by_role("button", name="Make an invitation link").click()
    link = page.locator("#invite-link").inner_text()
    assert "/staff/invitation?token=" in link
    no_axe_violations(page, "accounts page with an invitation link")
    page.get_by_role("button", name=f"Make staff for {ADMIN}").click()
    expect(page.get_by_role("alert")).to_contain_text("The last active admin cannot")
    no_axe_violations(page, "accounts page with an error")

    other = context.browser.new_context(base_url=live.url)
    try:
        newcomer = other.new_page()
        newcomer.goto(link)
        expect(newcomer.locator("h1")).to_have_text("Your staff account")
        no_axe_violations(newcomer, "invitation page")
        newcomer.get_by_label("Password", exact=True).fill("lichen-harbor-sparrow-19")
        newcomer.get_by_label("Password again").fill("lichen-harbor-sparrow-19")
        newcomer.get_by_role("button", name="Create my account").click()
        expect(newcomer).to_have_url(re.compile(r"/staff$"))
        newcomer.goto("/staff/accounts")
        expect(newcomer.locator("h1")).to_have_text("That action is not allowed")
        no_axe_violations(newcomer, "403 for staff")
        newcomer.goto(link)
        expect(newcomer).to_have_url(re.compile(r"/staff$"))  # signed in: straight on
        newcomer.context.clear_cookies()
        newcomer.goto(link)
        expect(newcomer.get_by_role("alert")).to_contain_text("cannot be used")
        no_axe_violations(newcomer, "invitation page, used link")
    finally:
        other.close()
    assert csp_violations(page) == []
    assert [e for e in console.errors if "status of 409" not in e] == []
