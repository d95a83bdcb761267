"""The form's remaining states, axe-clean in the light and the dark scheme: a form left open
past its time (with htmx) and one whose token cannot be verified (without JavaScript). Both
keep what was typed and store nothing. Time is the live server's FakeClock, never a sleep."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .conftest import ConsoleLog, LiveServer, Tab
from .test_browser_form_states import (
    HUMAN_DELAY_S,
    MORNING,
    assert_clean,
    axe_in_both_schemes,
    fill_valid,
    no_rate_events,  # noqa: F401 (a fixture, autouse there, used here too)
    scripts_blocked,  # noqa: F401 (a fixture)
    send,
    stored,
)

pytestmark = pytest.mark.browser


def test_a_form_left_open_past_its_time_keeps_everything(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    name = "Lingering Leopold"
    tab = Tab(page, "/consultation")
    fill_valid(page, name)
    live.clock.advance(hours=25)  # the form's token lasts 24 hours
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        send(page)
    assert answer.value.status == 422
    box = page.locator("#consultation .error-summary")
    expect(box).to_be_focused()
    expect(box).to_contain_text("needs to be sent again")
    expect(page.locator("#cf-full_name")).to_have_value(name)
    expect(page.get_by_role("radio", name=MORNING)).to_be_checked()
    expect(page.locator("#cf-consent")).to_be_checked()
    assert stored(live, name) == []
    axe_in_both_schemes(page, "form left open too long")
    # Sent again at once, it goes through (the new form is not taken for a bot's).
    send(page)
    expect(page.locator(".consultation--done")).to_be_focused()
    assert [row[1] for row in stored(live, name)] == [None]
    tab.assert_not_reloaded()
    assert_clean(page, console, expected=("422",))


def test_a_form_that_cannot_be_verified_without_javascript(
    scripts_blocked: BrowserContext,  # noqa: F811
    live: LiveServer,
) -> None:
    name = "Tampered Tabitha"
    page = scripts_blocked.new_page()
    page.goto("/consultation")
    assert page.evaluate("() => typeof window.htmx") == "undefined"
    fill_valid(page, name)
    page.locator("input[name='token']").evaluate("el => el.value = 'forged'")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    with page.expect_navigation():
        send(page)
    expect(page).to_have_url(re.compile(r"/consultation/details/[\w-]{32}$"))
    expect(page.locator(".error-summary")).to_contain_text("We could not verify this form")
    expect(page.locator("#cf-full_name")).to_have_value(name)
    assert stored(live, name) == []
    axe_in_both_schemes(page, "no-JS form not verified")
    with page.expect_navigation():
        send(page)
    expect(page.locator("h1")).to_have_text("Request received")
    assert len(stored(live, name)) == 1
