"""Real people and the form, in a real Chromium: fast hands, bots, errors that clear, a rate
limit, Back without JavaScript, printing, and axe on every state in the light and dark schemes.

Time is the live server's FakeClock (it runs from the instant each test sets): a form "sent
0.3 s after load" is one whose server clock was set to its token's issue time + 0.3 s, never a
sleep.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from itsdangerous import URLSafeSerializer
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import TEST_SECRET
from webapp.auth import Hasher

from .conftest import PUBLIC_PAGES, ConsoleLog, LiveServer, Tab, csp_violations, fresh_context

pytestmark = pytest.mark.browser

AXE = Axe()
ARTICLE = "/articles/does-ketamine-treat-depression"
HUMAN_DELAY_S = 3
MORNING = "Morning (9:00 AM – 12:00 noon)"
NOT_SENT = "Your request was not sent"
GONE = "The details typed on this page are no longer kept"
STAFF_EMAIL = "frontdesk.states@example.org"
STAFF_PASSWORD = "juniper-harbour-violin-73"
STAMP = "2026-12-01T15:00:00.000000Z"
DARK_PAPER = "rgb(17, 23, 21)"
LIGHT_PAPER = "rgb(251, 250, 247)"


# --- helpers ------------------------------------------------------------------------------------


def connect(live: LiveServer) -> sqlite3.Connection:
    return sqlite3.connect(live.database_path, timeout=5, isolation_level=None)


@pytest.fixture(autouse=True)
def no_rate_events(live: LiveServer) -> None:
    """Every test starts at the same instant: forget the earlier tests' sends."""
    with closing(connect(live)) as conn:
        conn.execute("DELETE FROM rate_events")


def stored(live: LiveServer, full_name: str) -> list[tuple]:
    with closing(connect(live)) as conn:
        return conn.execute(
            "SELECT reference, suspected_spam, reply_by FROM consultations WHERE full_name = ?"
            " ORDER BY id",
            (full_name,),
        ).fetchall()


def issued_at(token: str) -> datetime:
    """When the server issued a form token (it is signed, not secret, and this test has the key)."""
    serializer = URLSafeSerializer(
        TEST_SECRET, salt="consultation-form", signer_kwargs={"digest_method": hashlib.sha256}
    )
    return datetime.fromtimestamp(serializer.loads(token)["t"], UTC)


def axe_in_both_schemes(page: Page, state: str) -> None:
    """axe finds nothing in the light scheme nor in the dark one (and dark really applies)."""
    for scheme, paper in (("light", LIGHT_PAPER), ("dark", DARK_PAPER)):
        page.emulate_media(color_scheme=scheme)
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == paper
        results = AXE.run(page)
        assert results.violations_count == 0, (
            f"{state} ({scheme}): {results.violations_count} axe violation(s)\n"
            f"{results.generate_report()}"
        )
    page.emulate_media(color_scheme="light")


def fill_valid(page: Page, name: str) -> None:
    page.locator("#cf-full_name").fill(name)
    page.locator("#cf-email").fill("visitor@example.org")
    page.locator("#cf-phone").fill("(518) 555-0123")
    page.get_by_role("radio", name="Text message").check()
    page.get_by_role("radio", name=MORNING).check()
    page.locator("#cf-message").fill("Mornings are best.")
    page.locator("#cf-consent").check()


def send(page: Page) -> None:
    page.get_by_role("button", name="Send request").click()


def fill_the_limit(page: Page, live: LiveServer) -> None:
    """Requests from this address (the browser's own request context), as fast as a bot, until
    the limit (5 per 10 minutes) refuses one."""
    for i in range(6):
        form_page = page.request.get("/consultation")
        token = re.search(r'name="token" value="([^"]+)"', form_page.text()).group(1)
        answer = page.request.post(
            "/consultation",
            form={"token": token, "full_name": f"Earlier {i}", "email": "e@example.org",
                  "contact_method": "email", "best_time": "any", "consent": "yes"},
            headers={"HX-Request": "true"},
        )  # fmt: skip
        if answer.status == 429:
            return
        assert answer.status == 200
    pytest.fail("six sends in a row were not rate limited")


def assert_clean(page: Page, console: ConsoleLog, expected: tuple[str, ...] = ()) -> None:
    assert csp_violations(page) == []
    assert [e for e in console.errors if not any(s in e for s in expected)] == []


@pytest.fixture
def scripts_blocked(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    """Pages behave as without JavaScript (the site's scripts never load), and axe can run."""
    ctx = browser.new_context(base_url=live.url)
    ctx.route(re.compile(r"\.js(\?.*)?$"), lambda route: route.abort("blockedbyclient"))
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def no_js(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live.url, java_script_enabled=False)
    try:
        yield ctx
    finally:
        ctx.close()


# --- fast hands and autofill ----------------------------------------------------------------


def test_a_form_filled_and_sent_0_3_s_after_load_is_stored(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    name = "Autofill Annabel"
    tab = Tab(page, "/consultation")
    token = page.locator("#consultation input[name='token']").input_value()
    fill_valid(page, name)
    live.clock.set(issued_at(token) + timedelta(seconds=0.3))
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        send(page)
    assert answer.value.status == 200
    done = page.locator("#consultation.consultation--done")
    expect(done).to_be_focused()
    expect(done.locator(".done__title")).to_have_text("Thank you. We have your request.")
    expect(done).to_contain_text("we will text you by 5:00 PM ET today")
    reference = done.locator(".reference").inner_text()
    # Stored (flagged for staff to check), never thrown away behind the thank-you.
    [(stored_reference, flag, reply_by)] = stored(live, name)
    assert (stored_reference, flag) == (reference, "too_fast")
    assert reply_by == "2026-12-01T22:00:00.000000Z"
    tab.assert_not_reloaded()
    assert_clean(page, console)


# --- a bot's send, stored flagged; staff move it to the queue ------------------------------------


@pytest.fixture
def staff_account(live_server: LiveServer) -> str:
    with closing(connect(live_server)) as conn:
        if not conn.execute("SELECT 1 FROM staff WHERE email = ?", (STAFF_EMAIL,)).fetchone():
            conn.execute(
                "INSERT INTO staff (email, password_hash, active, created_at, updated_at)"
                " VALUES (?, ?, 1, ?, ?)",
                (STAFF_EMAIL, Hasher(fast=True).hash_sync(STAFF_PASSWORD), STAMP, STAMP),
            )
    return STAFF_EMAIL


def test_a_honeypot_send_is_stored_flagged_and_staff_restore_it(
    page: Page, browser: Browser, live: LiveServer, staff_account: str
) -> None:
    name = "Honeypot Horatio"
    Tab(page, "/")
    fill_valid(page, name)
    page.evaluate("document.getElementById('cf-website').value = 'http://spam.example'")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    send(page)
    done = page.locator("#consultation.consultation--done")
    expect(done.locator(".done__title")).to_have_text("Thank you. We have your request.")
    reference = done.locator(".reference").inner_text()
    assert [row[:2] for row in stored(live, name)] == [(reference, "honeypot")]

    with fresh_context(browser, live) as ctx:
        staff = ctx.new_page()
        staff.goto("/staff/login")
        staff.locator("#login-email").fill(STAFF_EMAIL)
        staff.locator("#login-password").fill(STAFF_PASSWORD)
        staff.get_by_role("button", name="Sign in").click()
        expect(staff).to_have_url(re.compile(r"/staff$"))
        table = staff.locator("#request-list")
        expect(table).not_to_contain_text(name)
        expect(staff.locator(".spam-note")).to_contain_text(
            re.compile(r"\d+ suspected spam: kept out of this list and the new count")
        )

        staff.locator("#status").select_option("spam")
        expect(staff).to_have_url(re.compile(r"/staff\?(q=&)?status=spam(&sort=)?$"))
        row = table.locator("tr", has_text=name)
        expect(row).to_contain_text("Suspected spam (the hidden field was filled in)")
        axe_in_both_schemes(staff, "staff: the suspected spam list")
        row.get_by_role("link", name=name).click()
        expect(staff.locator("#request-detail")).to_contain_text(
            "Stored as suspected spam: the hidden field was filled in."
        )
        expect(staff.get_by_role("button", name="Mark contacted")).to_have_count(0)
        axe_in_both_schemes(staff, "staff: a suspected spam request")
        staff.go_back()

        row.get_by_role("button", name=f"Move to the queue ({name})").click()
        expect(table.locator("#list-title")).to_contain_text("· Suspected spam")
        expect(table).not_to_contain_text(name)
        staff.locator("#status").select_option("")
        expect(table.locator("tr", has_text=name)).to_contain_text("New")
        expect(staff.locator("#new-count")).to_contain_text("new")
    with closing(connect(live)) as conn:
        actions = conn.execute(
            "SELECT action, actor FROM audit_log WHERE action = 'spam_restore'"
        ).fetchall()
    assert actions == [("spam_restore", STAFF_EMAIL)]
    assert [row[1] for row in stored(live, name)] == [None]


# --- every error clears when its field is fixed ---------------------------------------------------


def has_red_bar(page: Page, selector: str) -> bool:
    return page.locator(selector).evaluate(
        "el => el.classList.contains('field--error')"
        " && getComputedStyle(el).borderLeftWidth !== '0px'"
    )


def test_every_fields_error_clears_when_fixed(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    tab = Tab(page, "/consultation")
    page.locator("#cf-email").fill("ann@")
    page.locator("#cf-phone").fill("555")
    page.locator("#cf-message").evaluate("el => el.removeAttribute('maxlength')")
    page.locator("#cf-message").fill("x" * 1001)
    live.clock.advance(seconds=HUMAN_DELAY_S)
    send(page)
    summary = page.locator(".error-summary")
    expect(summary.locator("li")).to_have_count(6)
    axe_in_both_schemes(page, "six errors")
    wrappers = {
        "full_name": ".consultation-form > .field:has(#cf-full_name)",
        "email": ".consultation-form > .field-group:has(#cf-email)",
        "contact_method": ".consultation-form > .field-group:has(#cf-contact_method)",
        "message": ".consultation-form > .field:has(#cf-message)",
        "consent": ".consultation-form > .field--consent",
    }
    for selector in wrappers.values():
        assert has_red_bar(page, selector), selector

    def fixed(name: str, control: str, remaining: int) -> None:
        expect(page.locator(f"#cf-{name}-error")).to_have_count(0)
        expect(page.locator(control)).not_to_have_attribute("aria-invalid", "true")
        expect(summary.locator("li")).to_have_count(remaining)

    page.locator("#cf-full_name").fill("Ann Fixwell")
    page.locator("#cf-full_name").blur()
    fixed("full_name", "#cf-full_name", 5)
    expect(page.locator(wrappers["full_name"])).not_to_have_class(re.compile("field--error"))

    page.locator("#cf-email").fill("ann@example.org")
    page.locator("#cf-email").blur()
    fixed("email", "#cf-email", 4)
    # The phone in the same group is still wrong: the group keeps its bar.
    assert has_red_bar(page, wrappers["email"])
    page.locator("#cf-phone").fill("(518) 555-0123")
    page.locator("#cf-phone").blur()
    fixed("phone", "#cf-phone", 3)
    expect(page.locator(wrappers["email"])).not_to_have_class(re.compile("field--error"))
    axe_in_both_schemes(page, "three errors cleared")

    page.get_by_role("radio", name="Email").check()
    fixed("contact_method", "#cf-contact_method", 2)
    expect(page.locator(wrappers["contact_method"])).not_to_have_class(re.compile("field--error"))

    page.locator("#cf-message").fill("Shorter now.")
    page.locator("#cf-message").blur()
    fixed("message", "#cf-message", 1)

    # The report: the consent's red bar stayed after the box was ticked.
    page.locator("#cf-consent").check()
    fixed("consent", "#cf-consent", 0)
    expect(page.locator(wrappers["consent"])).not_to_have_class(re.compile("field--error"))
    assert not has_red_bar(page, wrappers["consent"])
    expect(summary).to_be_hidden()
    expect(page.locator(".field--error")).to_have_count(0)
    axe_in_both_schemes(page, "every error cleared")

    send(page)
    expect(page.locator(".consultation--done")).to_be_focused()
    axe_in_both_schemes(page, "confirmation")
    assert [row[1] for row in stored(live, "Ann Fixwell")] == [None]
    tab.assert_not_reloaded()
    assert_clean(page, console, expected=("422",))


# --- the rate limit -----------------------------------------------------------------------------


def test_a_rate_limited_send_says_not_sent_and_keeps_everything(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    name = "Limited Lucinda"
    tab = Tab(page, "/consultation")
    fill_the_limit(page, live)
    fill_valid(page, name)
    live.clock.advance(seconds=HUMAN_DELAY_S)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        send(page)
    assert answer.value.status == 429
    box = page.locator("#consultation .error-summary")
    expect(box).to_be_focused()
    expect(box).to_contain_text(NOT_SENT)
    expect(box).to_contain_text("Please press Send request again in about 10 minutes.")
    expect(box).not_to_contain_text("Or call us")  # data/clinic.toml sets no phone number
    expect(page.locator("#cf-full_name")).to_have_value(name)
    expect(page.locator("#cf-message")).to_have_value("Mornings are best.")
    expect(page.get_by_role("radio", name=MORNING)).to_be_checked()
    expect(page.locator("#cf-consent")).to_be_checked()
    assert stored(live, name) == []
    axe_in_both_schemes(page, "rate limited")
    tab.assert_not_reloaded()
    assert_clean(page, console, expected=("429",))


# --- without JavaScript: Post/Redirect/Get, and Back never offers to resend ---------------------


def test_back_from_the_thanks_page_never_asks_to_resend(no_js: BrowserContext, live: LiveServer):
    name = "Backbutton Beatrix"
    page = no_js.new_page()
    assert page.goto("/consultation").status == 200
    page.locator("#cf-full_name").fill(name)
    page.locator("#cf-phone").fill("518 555 01")
    page.get_by_role("radio", name="Phone call").check()
    live.clock.advance(seconds=HUMAN_DELAY_S)
    with page.expect_navigation() as navigation:
        send(page)
    assert navigation.value.status == 200
    details_url = page.url
    assert re.search(r"/consultation/details/[\w-]{32}$", details_url)
    assert "Backbutton" not in details_url and "518" not in details_url
    expect(page.locator(".error-summary li")).to_have_count(2)
    page.locator("#cf-phone").fill("(518) 555-0177")
    page.locator("#cf-consent").check()
    with page.expect_navigation():
        send(page)
    expect(page).to_have_url(re.compile(r"/consultation/thanks\?c="))
    reference = page.locator(".reference").inner_text()
    assert [row[0] for row in stored(live, name)] == [reference]

    # Back: a plain GET of the details page (no "Confirm Form Resubmission"), which no longer
    # holds what was typed, and says why.
    back = page.go_back()
    assert back is not None and back.status == 200 and back.request.method == "GET"
    assert page.url == details_url
    expect(page.locator(".form-notice")).to_contain_text(GONE)
    expect(page.locator("#cf-full_name")).to_have_value("")
    back = page.go_back()
    assert back is not None and back.status == 200 and back.request.method == "GET"
    expect(page).to_have_url(re.compile(r"/consultation$"))
    forward = page.go_forward()
    assert forward is not None and forward.request.method == "GET"
    forward = page.go_forward()
    assert forward is not None and forward.status == 200 and forward.request.method == "GET"
    expect(page.locator(".reference")).to_have_text(reference)
    assert [row[0] for row in stored(live, name)] == [reference]  # nothing sent twice


def test_no_js_states_are_axe_clean_in_both_schemes(
    scripts_blocked: BrowserContext, live: LiveServer
) -> None:
    page = scripts_blocked.new_page()
    page.goto("/consultation")
    assert page.evaluate("() => typeof window.htmx") == "undefined"
    axe_in_both_schemes(page, "no-JS empty form")
    page.locator("#cf-full_name").fill("Schemes Sebastian")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    with page.expect_navigation():
        send(page)
    expect(page.locator(".error-summary li")).to_have_count(3)
    expect(page.locator(".error-summary")).to_be_focused()
    axe_in_both_schemes(page, "no-JS errors page")
    details_url = page.url
    page.locator("#cf-email").fill("sebastian@example.org")
    page.get_by_role("radio", name="Email").check()
    page.locator("#cf-consent").check()
    with page.expect_navigation():
        send(page)
    expect(page.locator("h1")).to_have_text("Request received")
    axe_in_both_schemes(page, "no-JS thanks page")
    page.goto(details_url)
    expect(page.locator(".form-notice")).to_contain_text(GONE)
    axe_in_both_schemes(page, "no-JS details gone")

    fill_the_limit(page, live)
    page.goto("/consultation")
    fill_valid(page, "Schemes Limited")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    with page.expect_navigation():
        send(page)
    expect(page).to_have_title(re.compile(r"^Not sent: "))
    expect(page.locator(".error-summary")).to_contain_text(NOT_SENT)
    expect(page.locator("#cf-full_name")).to_have_value("Schemes Limited")
    axe_in_both_schemes(page, "no-JS rate limited")


# --- dark on every page; print ---------------------------------------------------------------


@pytest.mark.parametrize("path", [*PUBLIC_PAGES, "/no-such-page", "/staff/login"])
def test_every_page_is_axe_clean_in_the_dark_scheme(
    browser: Browser, live: LiveServer, path: str
) -> None:
    ctx = browser.new_context(base_url=live.url, color_scheme="dark")
    try:
        page = ctx.new_page()
        page.goto(path)
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == DARK_PAPER
        results = AXE.run(page)
        assert results.violations_count == 0, (
            f"{path} (dark): {results.violations_count} axe violation(s)\n"
            f"{results.generate_report()}"
        )
    finally:
        ctx.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_article_prints_without_form_navigation_and_footer(
    page: Page, live: LiveServer, scheme: str
) -> None:
    page.goto(ARTICLE)
    page.emulate_media(media="print", color_scheme=scheme)

    def shown(selector: str) -> bool:
        return page.locator(selector).first.evaluate(
            "el => getComputedStyle(el).display !== 'none'"
        )

    for gone in (".site-nav", ".breadcrumb", ".open-status", ".site-footer", "#consultation",
                 ".form-section"):  # fmt: skip
        assert not shown(gone), gone
    assert shown("h1#article-title") and shown(".article-body")
    crisis = page.locator(".crisis").evaluate(
        "el => { const s = getComputedStyle(el), a = getComputedStyle(el.querySelector('a'));"
        " return [s.display, s.color, s.backgroundColor, a.color]; }"
    )
    assert crisis == ["block", "rgb(0, 0, 0)", "rgb(255, 255, 255)", "rgb(0, 0, 0)"]
    body = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert body == "rgb(255, 255, 255)"
    pdf = page.pdf()
    assert pdf.startswith(b"%PDF")
