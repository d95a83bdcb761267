"""The work queue in a real Chromium: a request arriving updates an open dashboard (the tab's
title, the list, a polite announcement) without losing focus, ticks or scroll; assignment,
call-back dates, attempts and bulk changes in place; hours with "Saved", a confirmation and an
undo; the mail preference. axe on every new state, in the light and the dark scheme."""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from webapp.auth import Hasher
from webapp.db import utc_now_iso

from .conftest import DEFAULT_NOW, LiveServer, Tab, csp_violations, fresh_context, watch
from .conftest import add_request as store_request

pytestmark = pytest.mark.browser

# The dashboard asks every half second here (30 s in production): no waiting in the tests.
LIVE_SETTINGS = {"staff_poll_seconds": 0.5}
AXE = Axe()
NURSE, NURSE_PW = "nurse.queue@example.org", "copper-lantern-meadow-58"
DOCTOR, DOCTOR_PW = "doctor.queue@example.org", "quarry-lantern-orbit-61"
STAMP = "2026-12-01T14:00:00.000000Z"
LIGHT_PAPER, DARK_PAPER = "rgb(251, 250, 247)", "rgb(17, 23, 21)"


def connect(live: LiveServer) -> sqlite3.Connection:
    return sqlite3.connect(live.database_path, timeout=5, isolation_level=None)


@pytest.fixture(scope="module")
def accounts(live_server: LiveServer) -> None:
    hasher = Hasher(fast=True)
    with closing(connect(live_server)) as conn:
        for email, password in ((NURSE, NURSE_PW), (DOCTOR, DOCTOR_PW)):
            conn.execute(
                "INSERT INTO staff (email, password_hash, active, created_at, updated_at)"
                " VALUES (?, ?, 1, ?, ?)",
                (email, hasher.hash_sync(password), STAMP, STAMP),
            )


@pytest.fixture
def clean(live: LiveServer, accounts: None) -> LiveServer:
    with closing(connect(live)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM consultations")
    return live


@pytest.fixture
def staff_context(browser: Browser, clean: LiveServer) -> Iterator[BrowserContext]:
    with fresh_context(browser, clean) as ctx:
        yield ctx


def add_request(live: LiveServer, name: str, *, email: str = "", phone: str = "",
                minutes_ago: int = 60) -> int:  # fmt: skip
    stamp = utc_now_iso(DEFAULT_NOW - timedelta(minutes=minutes_ago))
    request_id, _ = store_request(
        live, name, email=email or f"{secrets.token_hex(3)}@example.org", phone=phone,
        method="call" if phone else "email", message="About the first visit.", created=stamp,
    )  # fmt: skip
    return request_id


def sign_in(page: Page, email: str = NURSE, password: str = NURSE_PW) -> None:
    page.goto("/staff/login")
    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/staff$"))


def axe_in_both_schemes(page: Page, state: str) -> None:
    for scheme, paper in (("light", LIGHT_PAPER), ("dark", DARK_PAPER)):
        page.emulate_media(color_scheme=scheme)
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == paper
        results = AXE.run(page)
        assert results.violations_count == 0, (
            f"{state} ({scheme}): {results.violations_count} axe violation(s)\n"
            f"{results.generate_report()}"
        )
    page.emulate_media(color_scheme="light")


def visitor_sends_request(page: Page, live: LiveServer, name: str) -> str:
    page.goto("/")
    page.wait_for_function("() => typeof window.htmx === 'object'")
    page.locator("#cf-full_name").fill(name)
    page.locator("#cf-email").fill("arrival@example.org")
    page.get_by_role("radio", name="Email").check()
    page.get_by_role("radio", name="Any time").check()
    page.locator("#cf-consent").check()
    live.clock.advance(seconds=3)
    page.get_by_role("button", name="Send request").click()
    reference = page.locator("#consultation.consultation--done .reference")
    expect(reference).to_have_text(re.compile(r"^AKI-[0-9A-Z]{5}$"))
    return reference.inner_text()


def test_a_request_arriving_updates_an_open_dashboard(
    browser: Browser, staff_context: BrowserContext, clean: LiveServer
) -> None:
    waiting = [add_request(clean, f"Waiting Person {n:02d}", minutes_ago=120 - n)
               for n in range(12)]  # fmt: skip
    staff = staff_context.new_page()
    staff.set_viewport_size({"width": 1000, "height": 500})
    console = watch(staff)
    sign_in(staff)
    tab = Tab(staff, "/staff")
    expect(staff).to_have_title("(12) Requests · Staff · Albany Ketamine Infusions")
    rows = staff.locator("#request-list tbody tr")
    expect(rows).to_have_count(12)
    axe_in_both_schemes(staff, "dashboard, needs action")
    # The member of staff is at work: a row ticked, a link focused, the page scrolled down.
    staff.locator(f"#pick-{waiting[3]}").check()
    link = staff.locator(f"a[href='/staff/requests/{waiting[7]}']")
    link.focus()
    staff.evaluate("window.scrollTo(0, 400)")
    scrolled = staff.evaluate("window.scrollY")
    assert scrolled > 0

    with fresh_context(browser, clean) as visitor_context:
        reference = visitor_sends_request(visitor_context.new_page(), clean, "Newly Arrived")

    expect(staff).to_have_title("(13) Requests · Staff · Albany Ketamine Infusions")
    expect(rows).to_have_count(13)
    expect(staff.locator("#request-list")).to_contain_text(reference)
    expect(staff.locator("#queue-announcer")).to_have_text("1 new request arrived.")
    expect(staff.locator("#new-count strong")).to_have_text("13")
    # Nothing of what the person was doing was lost, and the page was not reloaded.
    expect(staff.locator(f"a[href='/staff/requests/{waiting[7]}']")).to_be_focused()
    expect(staff.locator(f"#pick-{waiting[3]}")).to_be_checked()
    assert staff.evaluate("window.scrollY") == scrolled
    tab.assert_not_reloaded()
    axe_in_both_schemes(staff, "dashboard, after a request arrived")

    # Handled elsewhere (another member of staff closes it): the list follows, quietly.
    with closing(connect(clean)) as conn:
        conn.execute("UPDATE consultations SET status = 'closed' WHERE full_name = ?",
                     ("Newly Arrived",))  # fmt: skip
    expect(rows).to_have_count(12)
    expect(staff).to_have_title("(12) Requests · Staff · Albany Ketamine Infusions")
    expect(staff.locator("#queue-announcer")).to_have_text("1 new request arrived.")
    tab.assert_not_reloaded()
    assert csp_violations(staff) == [] and console.errors == []


def test_working_a_request_in_place(
    browser: Browser, staff_context: BrowserContext, clean: LiveServer
) -> None:
    first = add_request(clean, "Rosa Returning", phone="+15185550188", minutes_ago=300)
    request_id = add_request(clean, "Rosa R.", phone="+15185550188", minutes_ago=200)
    # A colleague has it open.
    with fresh_context(browser, clean) as doctor_context:
        doctor = doctor_context.new_page()
        sign_in(doctor, DOCTOR, DOCTOR_PW)
        doctor.goto(f"/staff/requests/{request_id}")
        expect(doctor.locator("h1")).to_contain_text("Rosa R.")

    page = staff_context.new_page()
    console = watch(page)
    sign_in(page)
    tab = Tab(page, f"/staff/requests/{request_id}")
    detail = page.locator("#request-detail")
    expect(detail).to_contain_text(f"{DOCTOR} has this open")
    expect(detail).to_contain_text("Other requests with the same email or phone")
    expect(page.locator(f"#request-detail a[href='/staff/requests/{first}']")).to_be_visible()
    axe_in_both_schemes(page, "request page, someone else has it open, a linked request")

    page.get_by_role("button", name="Assign to me").click()
    expect(detail).to_contain_text("Assigned to: you")
    page.locator("#follow-up-on").fill("2026-12-03")
    page.get_by_role("button", name="Save date").click()
    expect(detail).to_contain_text("It shows under “Needs action” on Thursday, December 3, 2026.")
    page.get_by_role("button", name="No answer").click()
    expect(page.locator("#attempts-title")).to_have_text("Contact attempts: 1")
    page.get_by_role("button", name="Left voicemail").click()
    expect(page.locator("#attempts-title")).to_have_text("Contact attempts: 2")
    expect(page.locator("ol.attempts > li")).to_have_count(2)
    history = page.locator("ol.history")
    expect(history).to_contain_text(f"Assigned: to {NURSE}")
    expect(history).to_contain_text("Set the follow-up date: call back on 2026-12-03")
    expect(history).to_contain_text("Contact attempt: Left voicemail (attempt 2)")
    axe_in_both_schemes(page, "request page, assigned, a call-back date and attempts")
    # A date too far ahead (the browser itself refuses one in the past): the error, in place.
    page.locator("#follow-up-on").fill("2028-01-01")
    page.get_by_role("button", name="Save date").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose a date from today to a year ahead.")
    axe_in_both_schemes(page, "request page, a bad call-back date")
    page.get_by_role("button", name="Spoke").click()
    expect(page.locator("#status-title .status")).to_have_text("Contacted")
    tab.assert_not_reloaded()
    assert csp_violations(page) == []
    assert [e for e in console.errors if "status of 422" not in e] == []


def test_bulk_status_change(staff_context: BrowserContext, clean: LiveServer) -> None:
    ids = [add_request(clean, f"Bulk Person {n}", minutes_ago=100 - n) for n in range(3)]
    page = staff_context.new_page()
    console = watch(page)
    sign_in(page)
    tab = Tab(page, "/staff")
    page.locator(f"#pick-{ids[0]}").check()
    page.locator(f"#pick-{ids[2]}").check()
    page.locator("#bulk-status").select_option("closed")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#request-list .done")).to_have_text("2 requests marked closed.")
    expect(page.locator("#request-list tbody tr")).to_have_count(1)
    expect(page.locator("#request-list tbody")).to_contain_text("Bulk Person 1")
    axe_in_both_schemes(page, "dashboard after a bulk change")
    tab.assert_not_reloaded()
    assert csp_violations(page) == [] and console.errors == []


def test_hours_saved_confirmed_removed_and_undone(
    staff_context: BrowserContext, clean: LiveServer
) -> None:
    page = staff_context.new_page()
    console = watch(page)
    sign_in(page)
    page.goto("/staff/hours")
    page.locator("#day").fill("2026-12-24")
    page.locator("#to").fill("2026-12-26")
    page.locator("#reason").fill("Christmas")
    page.get_by_role("button", name="Save").click()
    saved = page.get_by_role("status").filter(has_text="Saved")
    expect(saved).to_contain_text("Thursday, December 24, 2026 – Saturday, December 26, 2026")
    axe_in_both_schemes(page, "hours, saved")
    page.get_by_role("link", name=re.compile(r"^Remove")).click()
    expect(page.locator("h1")).to_have_text("Remove this closure?")
    axe_in_both_schemes(page, "hours, the confirmation")
    page.get_by_role("button", name="Remove it").click()
    removed = page.get_by_role("status").filter(has_text="Removed")
    expect(removed).to_contain_text("closed (Christmas)")
    expect(page.locator(".closure-list")).to_have_count(0)
    axe_in_both_schemes(page, "hours, removed with an undo")
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text("Christmas")
    expect(page.locator(".closure-list li")).to_have_count(1)
    clean.clear_closures()
    assert csp_violations(page) == [] and console.errors == []


def test_the_mail_preference(staff_context: BrowserContext, clean: LiveServer) -> None:
    page = staff_context.new_page()
    sign_in(page)
    page.goto("/staff/account")
    expect(
        page.get_by_role("radio", name=re.compile("An email for each new request"))
    ).to_be_checked()
    page.get_by_role("radio", name=re.compile("One email a day")).check()
    page.get_by_role("button", name="Save").first.click()
    expect(page.locator(".done[role=status]")).to_have_text(
        "Your choice of email about new requests is saved."
    )
    expect(page.get_by_role("radio", name=re.compile("One email a day"))).to_be_checked()
    axe_in_both_schemes(page, "account, mail preference saved")
    with closing(connect(clean)) as conn:
        conn.execute("UPDATE staff SET request_mail = 'each'")
