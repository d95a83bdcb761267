"""The consultation form in a real Chromium: htmx in place, no JavaScript, and failures.

A form sent less than settings.min_submit_seconds after it was rendered (by the server's clock)
is stored flagged as suspected spam. Rather than sleeping, tests that send as a person would move
the live server's FakeClock on by a few seconds once the form is on screen.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from .conftest import ConsoleLog, LiveServer, csp_violations, watch
from .conftest import Tab as BaseTab

pytestmark = pytest.mark.browser

AXE = Axe()
ARTICLE = "/articles/does-ketamine-treat-depression"
REFERENCE = re.compile(r"^AKI-[0-9A-Z]{5}$")
DONE_TITLE = "Thank you. We have your request."
# More than settings.min_submit_seconds (2 s): the form has been open long enough to be human.
HUMAN_DELAY_S = 3
SERVER_ERROR = (
    "Sorry, something went wrong on our side and your request was not sent. "
    "Your details are still here: please try again in a minute."
)
NETWORK_ERROR = (
    "Your request could not be sent. Please check your connection; "
    "your details are still here, so you can try again."
)


# --- helpers ------------------------------------------------------------------------------------


def rows_named(live: LiveServer, full_name: str) -> list[tuple]:
    """The stored requests with this name (each test uses a name of its own)."""
    with closing(sqlite3.connect(live.database_path, timeout=5, isolation_level=None)) as conn:
        return conn.execute(
            "SELECT reference, full_name, email, phone, contact_method, best_time, message,"
            " status FROM consultations WHERE full_name = ? ORDER BY id",
            (full_name,),
        ).fetchall()


def row_count(live: LiveServer) -> int:
    with closing(sqlite3.connect(live.database_path, timeout=5, isolation_level=None)) as conn:
        return conn.execute("SELECT count(*) FROM consultations").fetchone()[0]


def assert_no_axe_violations(page: Page, state: str) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, (
        f"{state}: {results.violations_count} axe violation(s)\n{results.generate_report()}"
    )


class Tab(BaseTab):
    """A page loaded once, with proof (window marker + load-event count) of any reload."""

    def scroll_y(self) -> float:
        return self.page.evaluate("() => window.scrollY")


def fill_valid(page: Page, name: str, *, method: str = "Email") -> None:
    """Every field of a valid request (the name, then the rest)."""
    page.locator("#cf-full_name").fill(name)
    page.locator("#cf-email").fill("visitor@example.org")
    page.locator("#cf-phone").fill("(518) 555-0123")
    page.get_by_role("radio", name=method).check()
    page.get_by_role("radio", name="Morning (9:00 AM – 12:00 noon)").check()
    page.locator("#cf-message").fill("Evenings are hard; mornings are best.")
    page.locator("#cf-consent").check()


def assert_valid_values_kept(page: Page, name: str, method: str) -> None:
    expect(page.locator("#cf-full_name")).to_have_value(name)
    expect(page.locator("#cf-email")).to_have_value("visitor@example.org")
    expect(page.locator("#cf-phone")).to_have_value("(518) 555-0123")
    expect(page.get_by_role("radio", name=method)).to_be_checked()
    expect(page.get_by_role("radio", name="Morning (9:00 AM – 12:00 noon)")).to_be_checked()
    expect(page.locator("#cf-message")).to_have_value("Evenings are hard; mornings are best.")
    expect(page.locator("#cf-consent")).to_be_checked()


def send(page: Page) -> None:
    page.get_by_role("button", name="Send request").click()


def assert_clean(page: Page, console: ConsoleLog, expected: tuple[str, ...] = ()) -> None:
    """No CSP violation, and no console error but the expected ones (by substring)."""
    assert csp_violations(page) == []
    unexpected = [e for e in console.errors if not any(s in e for s in expected)]
    assert unexpected == []


@pytest.fixture
def no_js(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live.url, java_script_enabled=False)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def scripts_blocked(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    """JavaScript on in the browser, but none of the site's scripts load: the pages render and
    the form posts exactly as without JavaScript, and axe (which needs timers, and timers never
    fire in a java_script_enabled=False context: axe.run() would hang) can run on them."""
    ctx = browser.new_context(base_url=live.url)
    ctx.route(re.compile(r"\.js(\?.*)?$"), lambda route: route.abort("blockedbyclient"))
    try:
        yield ctx
    finally:
        ctx.close()


# --- with JavaScript: htmx swaps in place -------------------------------------------------------


def test_article_form_errors_then_confirmation_in_place(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    name = "Ada Quartermaine"
    before = row_count(live)
    tab = Tab(page, ARTICLE)
    form_box = page.locator("#consultation")
    page.locator("#request").scroll_into_view_if_needed()
    page.locator("#cf-full_name").scroll_into_view_if_needed()
    start_y = tab.scroll_y()
    assert start_y > 500, f"the form is not far down the article (scrollY={start_y})"
    assert_no_axe_violations(page, "empty form")

    page.locator("#cf-full_name").press_sequentially(name)
    page.locator("#cf-email").press_sequentially("ada.example.org")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        send(page)
    assert answer.value.status == 422

    summary = page.locator("#consultation .error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    assert page.evaluate("() => document.activeElement.classList.contains('error-summary')")
    expect(summary.locator(".error-summary__title")).to_have_text("Please check these 3 details")
    expect(summary.locator("li a")).to_have_text(
        [
            "Enter an email address like name@example.com.",
            "Choose how you would like us to contact you.",
            "Tick the box to agree, so we can keep your details and contact you.",
        ]
    )
    expect(page.locator("#cf-full_name")).to_have_value(name)
    expect(page.locator("#cf-full_name")).not_to_have_attribute("aria-invalid", re.compile(".*"))
    email = page.locator("#cf-email")
    expect(email).to_have_value("ada.example.org")
    expect(email).to_have_attribute("aria-invalid", "true")
    described_by = (email.get_attribute("aria-describedby") or "").split()
    assert described_by == ["cf-email-error"], described_by
    error = page.locator("#cf-email-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Error: Enter an email address like name@example.com.")
    # The summary's link leads to the field.
    expect(summary.locator("li a").first).to_have_attribute("href", "#cf-email")
    assert_no_axe_violations(page, "form with errors")
    assert abs(tab.scroll_y() - start_y) < 720, (start_y, tab.scroll_y())

    email.fill("ada@example.org")
    page.get_by_role("radio", name="Email", exact=True).check()
    page.locator("#cf-consent").check()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        send(page)
    assert answer.value.status == 200

    done = page.locator("#consultation.consultation--done")
    expect(done).to_be_visible()
    expect(done).to_be_focused()
    expect(done.locator(".done__title")).to_have_text(DONE_TITLE)
    reference = done.locator(".reference").inner_text()
    assert REFERENCE.fullmatch(reference), reference
    expect(done).to_contain_text("we will email you by 5:00 PM ET today")
    expect(form_box).to_have_count(1)
    expect(page.locator("form.consultation-form")).to_have_count(0)

    tab.assert_not_reloaded()
    assert page.url.endswith(ARTICLE), page.url
    end_y = tab.scroll_y()
    assert end_y > start_y / 2 and abs(end_y - start_y) < 720, (start_y, end_y)
    assert done.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; }"
    ), "the confirmation is not in view"
    assert_no_axe_violations(page, "confirmation")

    assert rows_named(live, name) == [
        (reference, name, "ada@example.org", "", "email", "any", "", "new")
    ]
    assert row_count(live) == before + 1
    # Chromium logs the 422 answer itself as a failed resource load.
    assert_clean(page, console, expected=("status of 422",))


# --- without JavaScript: a normal POST, a 422 page, a 303 to the thanks page -----------------


def test_without_javascript_errors_page_then_thanks_page(
    no_js: BrowserContext, scripts_blocked: BrowserContext, live: LiveServer
) -> None:
    name = "Bartholomew Nightingale"
    before = row_count(live)
    page = no_js.new_page()
    console = watch(page)
    response = page.goto("/consultation")
    assert response is not None and response.status == 200
    assert page.evaluate("() => typeof window.htmx") == "undefined", "page scripts ran"

    page.locator("#cf-full_name").fill(name)
    page.locator("#cf-phone").fill("518 555 01")  # too short
    page.get_by_role("radio", name="Phone call").check()
    page.locator("#cf-message").fill("Please call after 2.")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    with page.expect_navigation() as navigation:
        send(page)
    # Post/Redirect/Get: the errors are on a page of their own, reached by a 303.
    assert navigation.value is not None and navigation.value.status == 200
    assert navigation.value.request.redirected_from is not None
    assert navigation.value.request.redirected_from.method == "POST"
    expect(page).to_have_url(re.compile(r"/consultation/details/[\w-]{32}$"))
    expect(page).to_have_title(re.compile(r"^Check your details: Request a Consultation"))
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()  # the browser's own autofocus, no script needed
    expect(summary.locator("li a")).to_have_text(
        [
            "Enter a 10-digit US phone number, like (518) 555-0123.",
            "Tick the box to agree, so we can keep your details and contact you.",
        ]
    )
    expect(page.locator("#cf-full_name")).to_have_value(name)
    expect(page.locator("#cf-phone")).to_have_value("518 555 01")
    expect(page.locator("#cf-phone")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#cf-phone")).to_have_attribute(
        "aria-describedby", "cf-phone-hint cf-phone-error"
    )
    expect(page.get_by_role("radio", name="Phone call")).to_be_checked()
    expect(page.locator("#cf-message")).to_have_value("Please call after 2.")
    expect(page.locator("#cf-consent")).not_to_be_checked()

    page.locator("#cf-phone").fill("(518) 555-0199")
    page.locator("#cf-consent").check()
    with page.expect_navigation() as navigation:
        send(page)
    assert navigation.value is not None and navigation.value.status == 200
    expect(page).to_have_url(re.compile(r"/consultation/thanks\?c=[\w.-]+$"))
    expect(page.locator("h1")).to_have_text("Request received")
    done = page.locator("#consultation.consultation--done")
    expect(done.locator(".done__title")).to_have_text(DONE_TITLE)
    reference = done.locator(".reference").inner_text()
    assert REFERENCE.fullmatch(reference), reference
    expect(done).to_contain_text(f"Your reference is {reference}. You do not need to do anything")
    expect(done).to_contain_text("we will call you by 5:00 PM ET today")
    thanks_url = page.url

    # axe in the same states: the 422 page from a native POST, then the same thanks URL.
    axe_page = scripts_blocked.new_page()
    axe_page.goto("/consultation")
    assert axe_page.evaluate("() => typeof window.htmx") == "undefined"
    axe_page.locator("#cf-full_name").fill(name)
    axe_page.locator("#cf-phone").fill("518 555 01")
    axe_page.get_by_role("radio", name="Phone call").check()
    live.clock.advance(seconds=HUMAN_DELAY_S)
    with axe_page.expect_navigation() as navigation:
        send(axe_page)
    assert navigation.value is not None and navigation.value.status == 200
    expect(axe_page.locator(".error-summary li")).to_have_count(2)
    assert_no_axe_violations(axe_page, "no-JS error page")
    response = axe_page.goto(thanks_url)
    assert response is not None and response.status == 200
    expect(axe_page.locator(".reference")).to_have_text(reference)
    assert_no_axe_violations(axe_page, "no-JS thanks page")

    assert rows_named(live, name) == [
        (reference, name, "", "+15185550199", "call", "any", "Please call after 2.", "new")
    ]
    assert row_count(live) == before + 1
    assert console.errors == []


# --- failures: the form stays, with what was typed, and says what happened ----------------------


def test_server_error_and_network_failure_keep_the_form(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    name = "Cordelia Vantongeren"
    before = row_count(live)
    failure = {"mode": "500"}
    posts: list[str] = []

    def intercept(route: Route) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        posts.append(failure["mode"])
        if failure["mode"] == "500":
            route.fulfill(status=500, content_type="text/html", body="<h1>Server error</h1>")
        else:
            route.abort("connectionrefused")

    page.route(f"{live.url}/consultation", intercept)
    tab = Tab(page, "/")
    fill_valid(page, name, method="Phone call")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    problem = page.locator("#consultation [data-form-problem]")
    expect(problem).to_be_hidden()

    send(page)
    expect(problem).to_be_visible()
    expect(problem).to_have_text(SERVER_ERROR)
    expect(problem).to_be_focused()
    expect(page.locator("form.consultation-form")).to_have_count(1)
    expect(page.locator("#consultation .error-summary")).to_have_count(0)
    expect(page.locator("h1", has_text="Server error")).to_have_count(0)
    assert_valid_values_kept(page, name, "Phone call")

    failure["mode"] = "network"
    send(page)
    expect(problem).to_have_text(NETWORK_ERROR)
    expect(problem).to_be_visible()
    expect(problem).to_be_focused()
    expect(page.locator("form.consultation-form")).to_have_count(1)
    assert_valid_values_kept(page, name, "Phone call")

    assert posts == ["500", "network"]
    assert rows_named(live, name) == []
    assert row_count(live) == before
    tab.assert_not_reloaded()
    assert_no_axe_violations(page, "form with a connection problem")

    # The connection is back: the same form, unchanged, goes through.
    page.unroute(f"{live.url}/consultation")
    send(page)
    done = page.locator("#consultation.consultation--done")
    expect(done).to_be_focused()
    expect(problem).to_have_count(0)
    reference = done.locator(".reference").inner_text()
    assert REFERENCE.fullmatch(reference), reference
    assert [row[0] for row in rows_named(live, name)] == [reference]
    tab.assert_not_reloaded()
    # Chromium logs the 500 and the refused connection; htmx logs its htmx:error.
    assert_clean(page, console, expected=("status of 500", "net::ERR_", "Failed to fetch"))


def test_double_click_stores_one_request_and_shows_one_confirmation(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    name = "Desmond Okafor-Reyes"
    before = row_count(live)
    posts: list[int] = []
    page.on(
        "requestfinished",
        lambda request: posts.append(1) if request.method == "POST" else None,
    )
    tab = Tab(page, "/consultation")
    fill_valid(page, name)
    live.clock.advance(seconds=HUMAN_DELAY_S)

    page.get_by_role("button", name="Send request").dblclick()
    done = page.locator("#consultation.consultation--done")
    expect(done).to_be_visible()
    # Let any second request finish and swap before counting.
    page.wait_for_load_state("networkidle")
    expect(done).to_have_count(1)
    expect(page.locator(".reference")).to_have_count(1)
    expect(page.locator("form.consultation-form")).to_have_count(0)
    reference = done.locator(".reference").inner_text()
    assert REFERENCE.fullmatch(reference), reference
    stored = rows_named(live, name)
    assert [row[0] for row in stored] == [reference], stored
    assert row_count(live) == before + 1
    assert 1 <= len(posts) <= 2, posts
    tab.assert_not_reloaded()
    assert_clean(page, console)


def test_an_error_clears_when_its_field_is_fixed(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    tab = Tab(page, "/consultation")
    page.locator("#cf-email").press_sequentially("ann@")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    send(page)
    email = page.locator("#cf-email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#cf-email-error")).to_be_visible()
    expect(page.locator(".error-summary li")).to_have_count(4)

    email.fill("ann@example.org")
    email.blur()  # a change: the fields that were wrong are checked again
    expect(page.locator("#cf-email-error")).to_have_count(0)
    expect(email).not_to_have_attribute("aria-invalid", "true")
    expect(email).not_to_have_attribute("aria-describedby", re.compile("cf-email-error"))
    expect(page.locator(".error-summary li")).to_have_count(3)
    # Fields still wrong keep their messages; the typed value is untouched.
    expect(page.locator("#cf-full_name-error")).to_be_visible()
    expect(email).to_have_value("ann@example.org")
    assert_no_axe_violations(page, "one error cleared")

    page.locator("#cf-full_name").fill("Ann Fixwell")
    page.locator("#cf-full_name").blur()
    page.get_by_role("radio", name="Email").check()
    page.locator("#cf-consent").check()
    expect(page.locator(".field-error")).to_have_count(0)
    expect(page.locator(".error-summary")).to_be_hidden()
    assert rows_named(live, "Ann Fixwell") == []  # checking stores nothing
    send(page)
    expect(page.locator(".consultation--done")).to_be_visible()
    assert len(rows_named(live, "Ann Fixwell")) == 1
    tab.assert_not_reloaded()
    assert_clean(page, console, expected=("422",))
