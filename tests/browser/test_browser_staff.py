"""The staff area in a real Chromium: sign-in, live search, a request's page, sign-out, expiry.

The account is written straight into the live server's database with a fast Argon2id hash
(make_settings sets fast_password_hashing=True, so the server verifies it without rehashing).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from webapp.auth import Hasher

from .conftest import ConsoleLog, LiveServer, add_request, csp_violations, fresh_context, watch

pytestmark = pytest.mark.browser

AXE = Axe()
STAFF_EMAIL = "nurse.browser@example.org"
STAFF_PASSWORD = "copper-lantern-meadow-58"
STAMP = "2026-12-01T15:00:00.000000Z"
LOGIN_ERROR = "That email and password do not match an active account."
MARKER = "window.__noReloadMarker"
# More than settings.min_submit_seconds: the visitor's form has been open long enough.
HUMAN_DELAY_S = 3


# --- fixtures and helpers -----------------------------------------------------------------------


def connect(live: LiveServer) -> sqlite3.Connection:
    # autocommit; the app holds its own connections (WAL), so wait for its locks.
    return sqlite3.connect(live.database_path, timeout=5, isolation_level=None)


@pytest.fixture(scope="module")
def staff_account(live_server: LiveServer) -> str:
    """One active account in this module's database; returns its email."""
    password_hash = Hasher(fast=True).hash_sync(STAFF_PASSWORD)
    with closing(connect(live_server)) as conn:
        conn.execute(
            "INSERT INTO staff (email, password_hash, active, created_at, updated_at)"
            " VALUES (?, ?, 1, ?, ?)",
            (STAFF_EMAIL, password_hash, STAMP, STAMP),
        )
    return STAFF_EMAIL


@pytest.fixture
def staff_context(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    """A second browser (own cookies) for the member of staff."""
    with fresh_context(browser, live) as ctx:
        yield ctx


def seed_request(live: LiveServer, full_name: str, reference: str) -> None:
    """A request stored directly, so a search has something to leave out."""
    add_request(live, full_name, email="other@example.org", created=STAMP, reference=reference,
                token_id=f"seed-{reference}")  # fmt: skip


def session_count(live: LiveServer) -> int:
    with closing(connect(live)) as conn:
        return conn.execute("SELECT count(*) FROM sessions").fetchone()[0]


def assert_no_axe_violations(page: Page, state: str) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, (
        f"{state}: {results.violations_count} axe violation(s)\n{results.generate_report()}"
    )


def assert_clean(page: Page, console: ConsoleLog, expected: tuple[str, ...] = ()) -> None:
    assert csp_violations(page) == []
    assert [e for e in console.errors if not any(s in e for s in expected)] == []


class LoadCounter:
    """Counts `load` events; with a window marker it proves a page was not reloaded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.loads = 0
        page.on("load", self._on_load)

    def _on_load(self, _page: Page) -> None:
        self.loads += 1

    def mark(self) -> int:
        """Set the marker on the current document; returns the load count so far."""
        self.page.wait_for_function("() => typeof window.htmx === 'object'")
        self.page.evaluate(f"{MARKER} = 'set'")
        return self.loads

    def assert_not_reloaded_since(self, loads: int) -> None:
        assert self.page.evaluate(f"() => {MARKER}") == "set", "the page was reloaded"
        assert self.loads == loads, f"{self.loads - loads} load event(s) since the mark"


def sign_in(page: Page, password: str = STAFF_PASSWORD) -> None:
    page.locator("#login-email").fill(STAFF_EMAIL)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def visitor_sends_request(page: Page, live: LiveServer, full_name: str) -> str:
    """A visitor fills in the inline form on the home page; returns the reference shown."""
    response = page.goto("/")
    assert response is not None and response.status == 200
    page.wait_for_function("() => typeof window.htmx === 'object'")
    page.locator("#cf-full_name").fill(full_name)
    page.locator("#cf-email").fill("Wilhelmina.Z@Example.ORG")
    page.locator("#cf-phone").fill("518-555-0147")
    page.get_by_role("radio", name="Text message").check()
    page.get_by_role("radio", name="Afternoon (12:00 noon – 5:00 PM)").check()
    page.locator("#cf-message").fill("Afternoons suit me.")
    page.locator("#cf-consent").check()
    live.clock.advance(seconds=HUMAN_DELAY_S)
    page.get_by_role("button", name="Send request").click()
    reference = page.locator("#consultation.consultation--done .reference")
    expect(reference).to_have_text(re.compile(r"^AKI-[0-9A-Z]{5}$"))
    return reference.inner_text()


# --- tests --------------------------------------------------------------------------------------


def test_staff_find_follow_up_and_sign_out(
    page: Page,
    staff_context: BrowserContext,
    live: LiveServer,
    staff_account: str,
) -> None:
    seed_request(live, "Someone Else Entirely", "SEED-00001")
    reference = visitor_sends_request(page, live, "Wilhelmina Zabrowski")

    staff = staff_context.new_page()
    console = watch(staff)
    loads = LoadCounter(staff)
    staff.goto("/staff/login")
    expect(staff.locator("h1")).to_have_text("Staff sign-in")
    expect(staff.locator("#login-email")).to_be_focused()
    assert_no_axe_violations(staff, "sign-in page")
    sign_in(staff)
    expect(staff).to_have_url(re.compile(r"/staff$"))
    expect(staff.locator("h1")).to_have_text("Consultation requests")
    title = staff.locator("#list-title")
    rows = staff.locator("#request-list tbody th[scope=row] a")
    expect(rows).to_have_count(2)
    expect(title).to_have_text("2 requests · Needs action")
    # axe on the dashboard: test_dashboard_has_no_axe_violations (a known violation).

    # Search as you type: the list is swapped in and the URL follows, without a reload.
    mark = loads.mark()
    with staff.expect_response(re.compile(r"/staff\?(.*&)?q=Zabrow")) as answer:
        staff.locator("#q").press_sequentially("Zabrow")
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(title).to_have_text("1 result for “Zabrow” · all requests")
    expect(rows).to_have_text(["Wilhelmina Zabrowski"])
    expect(staff.locator("#request-list .ref")).to_have_text([reference])
    query = parse_qs(urlsplit(staff.url).query)
    assert urlsplit(staff.url).path == "/staff" and query.get("q") == ["Zabrow"], staff.url
    loads.assert_not_reloaded_since(mark)
    expect(staff.locator("#request-list")).to_have_count(1)
    expect(staff.locator("#q")).to_be_focused()

    # The pushed URL serves the same list as a full page.
    response = staff.reload()
    assert response is not None and response.status == 200
    expect(staff.locator("h1")).to_have_text("Consultation requests")
    expect(title).to_have_text("1 result for “Zabrow” · all requests")
    expect(rows).to_have_text(["Wilhelmina Zabrowski"])
    expect(staff.locator("#q")).to_have_value("Zabrow")

    # The request's page: contact links, status change and a note, each swapped in place.
    rows.first.click()
    expect(staff).to_have_url(re.compile(r"/staff/requests/\d+$"))
    expect(staff.locator("h1")).to_have_text(f"Wilhelmina Zabrowski {reference}")
    expect(staff.locator("#request-detail a[href='tel:+15185550147']")).to_have_text(
        "(518) 555-0147"
    )
    expect(staff.locator("#request-detail a[href='sms:+15185550147']")).to_have_text("Text")
    expect(staff.locator("#request-detail a[href='mailto:Wilhelmina.Z@example.org']")).to_have_text(
        "Wilhelmina.Z@example.org"
    )
    status = staff.locator("#status-title .status")
    expect(status).to_have_text("New")
    assert_no_axe_violations(staff, "request page")

    mark = loads.mark()
    staff.get_by_role("button", name="Mark contacted").click()
    expect(status).to_have_text("Contacted")
    expect(staff.get_by_role("button", name="Mark contacted")).to_have_count(0)
    expect(staff.get_by_role("button", name="Mark scheduled")).to_be_visible()
    history = staff.locator("#request-detail ol.history > li")
    expect(history.filter(has_text="Changed the status")).to_have_count(1)
    expect(history.filter(has_text="Changed the status")).to_contain_text(
        f"Changed the status: New → Contacted · {STAFF_EMAIL}"
    )

    staff.locator("#note").fill("Left a voicemail; will text this afternoon.")
    staff.get_by_role("button", name="Add note").click()
    note = staff.locator("#request-detail ol.notes > li")
    expect(note).to_have_count(1)
    expect(note.locator(".note-body")).to_have_text("Left a voicemail; will text this afternoon.")
    expect(note).to_contain_text(STAFF_EMAIL)
    expect(staff.locator("#note")).to_have_value("")
    expect(history.filter(has_text="Added a note")).to_have_count(1)
    expect(staff.locator("#request-detail")).to_have_count(1)
    loads.assert_not_reloaded_since(mark)
    assert_no_axe_violations(staff, "request page after changes")

    staff.goto("/staff/hours")
    expect(staff.locator("h1")).to_have_text("Hours and closures")
    assert_no_axe_violations(staff, "hours page")

    # Sign out, from the nav; the cookie no longer opens the dashboard.
    sessions = session_count(live)
    staff.get_by_role("button", name=re.compile(r"^Sign out")).click()
    expect(staff).to_have_url(re.compile(r"/staff/login$"))
    expect(staff.locator("h1")).to_have_text("Staff sign-in")
    assert session_count(live) == sessions - 1
    staff.goto("/staff")
    expect(staff).to_have_url(re.compile(r"/staff/login\?next=%2Fstaff$"))
    expect(staff.locator("h1")).to_have_text("Staff sign-in")
    expect(staff.locator("#request-list")).to_have_count(0)

    with closing(connect(live)) as conn:
        stored = conn.execute(
            "SELECT status, email, phone, contact_method FROM consultations WHERE reference = ?",
            (reference,),
        ).fetchall()
    assert stored == [("contacted", "Wilhelmina.Z@example.org", "+15185550147", "text")]
    assert_clean(staff, console)


def test_dashboard_has_no_axe_violations(
    staff_context: BrowserContext, live: LiveServer, staff_account: str
) -> None:
    seed_request(live, "Yusuf Abernathy-Cole", "SEED-00002")
    page = staff_context.new_page()
    page.goto("/staff/login")
    sign_in(page)
    expect(page).to_have_url(re.compile(r"/staff$"))
    expect(page.locator("#request-list tbody tr")).not_to_have_count(0)
    assert_no_axe_violations(page, "dashboard")
    page.wait_for_function("() => typeof window.htmx === 'object'")
    page.locator("#q").press_sequentially("Abernathy")
    expect(page.locator("#list-title")).to_have_text("1 result for “Abernathy” · all requests")
    assert_no_axe_violations(page, "dashboard, filtered")


def test_wrong_password_shows_one_error(
    staff_context: BrowserContext, live: LiveServer, staff_account: str
) -> None:
    page = staff_context.new_page()
    console = watch(page)
    page.goto("/staff/login")
    with page.expect_navigation() as navigation:
        sign_in(page, password="not-the-password")
    assert navigation.value is not None and navigation.value.status == 400
    expect(page).to_have_url(re.compile(r"/staff/login$"))
    alert = page.get_by_role("alert")
    expect(alert).to_have_count(1)
    expect(alert).to_have_text(LOGIN_ERROR)
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.get_by_text(LOGIN_ERROR)).to_have_count(1)
    expect(page.locator("#login-email")).to_have_value(STAFF_EMAIL)
    expect(page.locator("#login-password")).to_have_value("")
    assert_no_axe_violations(page, "sign-in page with the error")
    # Chromium logs the 400 answer itself as a failed resource load.
    assert_clean(page, console, expected=("status of 400",))


def test_session_ended_during_search_goes_to_sign_in(
    staff_context: BrowserContext, live: LiveServer, staff_account: str
) -> None:
    page = staff_context.new_page()
    console = watch(page)
    page.goto("/staff/login")
    sign_in(page)
    expect(page).to_have_url(re.compile(r"/staff$"))
    page.wait_for_function("() => typeof window.htmx === 'object'")

    with closing(connect(live)) as conn:
        ended = conn.execute("DELETE FROM sessions").rowcount
    assert ended >= 1

    with page.expect_response(re.compile(r"/staff\?(.*&)?q=Wil")) as answer:
        page.locator("#q").press_sequentially("Wil")
    assert answer.value.status == 401
    assert answer.value.headers.get("hx-redirect", "").startswith("/staff/login?next=")
    expect(page).to_have_url(re.compile(r"/staff/login\?next=%2Fstaff"))
    expect(page.locator("h1")).to_have_text("Staff sign-in")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("#request-list")).to_have_count(0)
    expect(page.locator("form.filters")).to_have_count(0)
    expect(page.locator("#login-email")).to_be_visible()
    assert_clean(page, console, expected=("status of 401",))
