"""The open-now banner in a real browser: it changes state on its own, without a reload.

The server's FakeClock runs in real time from the instant a test sets, so a page loaded two
seconds before 17:00 sees the clinic close two seconds later. The banner's own
`load delay:Nms` trigger does the refresh; nothing here reloads the page.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from .conftest import ConsoleLog, LiveServer, csp_violations
from .conftest import Tab as BaseTab

pytestmark = pytest.mark.browser

# The state changes ~2 s after the page loads; allow for a slow machine, not for a 60 s poll.
CHANGE_TIMEOUT_MS = 5_000
ANNOUNCER = "#open-status-announcer"


class Tab(BaseTab):
    """A page opened once, with proof that it was never reloaded afterwards."""

    @property
    def banner(self) -> Locator:
        return self.page.locator("#open-status")

    @property
    def headline(self) -> Locator:
        return self.page.locator("#open-status .open-status__headline")

    @property
    def detail(self) -> Locator:
        return self.page.locator("#open-status .open-status__detail")

    @property
    def announcer(self) -> Locator:
        return self.page.locator(ANNOUNCER)

    def assert_single_banner_and_live_region(self) -> None:
        """The swap replaced, not duplicated; the live region kept its role and politeness."""
        assert self.banner.count() == 1
        assert self.announcer.count() == 1
        expect(self.announcer).to_have_attribute("role", "status")
        expect(self.announcer).to_have_attribute("aria-live", "polite")
        expect(self.announcer).to_have_attribute("aria-atomic", "true")
        expect(self.announcer).not_to_have_attribute("data-hx-swap-oob", re.compile(".*"))
        # The live region sits outside the banner, so the banner's swap cannot remove it.
        assert self.page.locator(f"#open-status {ANNOUNCER}").count() == 0


def assert_clean(page: Page, console: ConsoleLog) -> None:
    assert console.errors == []
    assert csp_violations(page) == []


def test_banner_turns_closed_at_closing_time_without_reload(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    live.clock.set_local(2026, 12, 1, 16, 59, 58)  # Tuesday, two seconds before 5 PM
    tab = Tab(page)
    expect(tab.headline).to_have_text("Closes in 1 min")
    expect(tab.detail).to_have_text("closes at 5:00 PM ET")
    expect(tab.banner).to_have_class(re.compile(r"\bopen-status--closing-soon\b"))
    trigger = tab.banner.get_attribute("data-hx-trigger") or ""
    assert re.fullmatch(r"load delay:\d+ms, every 60s", trigger), trigger
    expect(tab.announcer).to_have_text("")

    expect(tab.headline).to_have_text("Closed", timeout=CHANGE_TIMEOUT_MS)
    expect(tab.detail).to_have_text("opens tomorrow at 9:00 AM ET")
    expect(tab.banner).to_have_class(re.compile(r"\bopen-status--closed\b"))
    expect(tab.announcer).to_have_text("Closed, opens tomorrow at 9:00 AM ET")
    # Next change is at midnight, more than a minute away: back to the plain poll.
    expect(tab.banner).to_have_attribute("data-hx-trigger", "every 60s")
    expect(tab.banner).to_have_attribute("data-hx-get", "/open-status?was=closed")
    tab.assert_not_reloaded()
    tab.assert_single_banner_and_live_region()
    assert_clean(page, console)

    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_banner_turns_open_at_opening_time_without_reload(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    live.clock.set_local(2026, 12, 1, 8, 59, 58)  # Tuesday, two seconds before 9 AM
    tab = Tab(page)
    expect(tab.headline).to_have_text("Closed")
    expect(tab.detail).to_have_text("opens today at 9:00 AM ET")
    expect(tab.announcer).to_have_text("")

    expect(tab.headline).to_have_text("Open now", timeout=CHANGE_TIMEOUT_MS)
    expect(tab.detail).to_have_text("closes at 5:00 PM ET")
    expect(tab.banner).to_have_class(re.compile(r"\bopen-status--open\b"))
    expect(tab.announcer).to_have_text("Open now, closes at 5:00 PM ET")
    expect(tab.banner).to_have_attribute("data-hx-get", "/open-status?was=open")
    tab.assert_not_reloaded()
    tab.assert_single_banner_and_live_region()
    assert_clean(page, console)


def test_countdown_refresh_without_state_change_is_not_announced(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    # 16:58:58.5 shows "Closes in 2 min"; at 16:59:00 the count drops to 1, same state.
    live.clock.set_local(2026, 12, 1, 16, 58, 58, 500_000)
    tab = Tab(page)
    expect(tab.headline).to_have_text("Closes in 2 min")
    with page.expect_response(re.compile(r"/open-status\?was=closing_soon$")) as refresh:
        expect(tab.headline).to_have_text("Closes in 1 min", timeout=CHANGE_TIMEOUT_MS)
    body = refresh.value.text()
    assert "open-status-announcer" not in body, body
    expect(tab.announcer).to_have_text("")
    tab.assert_not_reloaded()
    tab.assert_single_banner_and_live_region()
    assert_clean(page, console)


@pytest.mark.parametrize(
    ("was", "announced"),
    [("open", False), ("closing_soon", True), ("closed", True), ("bogus", False), (None, False)],
)
def test_open_status_fragment_announces_only_a_state_change(
    page: Page, live: LiveServer, was: str | None, announced: bool
) -> None:
    live.clock.set_local(2026, 12, 1, 10, 0, 0)  # open, hours before closing
    query = "" if was is None else f"?was={was}"
    response = page.request.get(f"{live.url}/open-status{query}")
    assert response.status == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.text()
    assert 'id="open-status"' in body and "Open now" in body
    assert ("open-status-announcer" in body) is announced, body
    if announced:
        assert re.search(
            r'<div id="open-status-announcer" data-hx-swap-oob="innerHTML">'
            r"Open now, closes at 5:00 PM ET</div>",
            body,
        ), body


def test_closure_added_while_page_is_open_shows_on_next_poll(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    live.clock.set_local(2026, 11, 26, 10, 0, 0)  # Thanksgiving Thursday, normally open
    # Fake only the browser's timers, so the 60 s poll can be fast-forwarded.
    page.clock.install()
    tab = Tab(page)
    expect(tab.headline).to_have_text("Open now")
    expect(tab.banner).to_have_attribute("data-hx-trigger", "every 60s")

    live.add_closure("2026-11-26", "Thanksgiving")
    with page.expect_response(re.compile(r"/open-status\?was=open$")):
        page.clock.run_for(61_000)
    expect(tab.headline).to_have_text("Closed today for Thanksgiving")
    expect(tab.detail).to_have_text("opens tomorrow at 9:00 AM ET")
    expect(tab.announcer).to_have_text(
        "Closed today for Thanksgiving, opens tomorrow at 9:00 AM ET"
    )
    tab.assert_not_reloaded()
    tab.assert_single_banner_and_live_region()
    assert_clean(page, console)


def test_closure_in_database_shows_on_every_page_and_clinic_page(
    page: Page, console: ConsoleLog, live: LiveServer
) -> None:
    live.add_closure("2026-11-26", "Thanksgiving")
    live.add_closure("2026-12-24", "Christmas Eve", opens="09:00", closes="13:00")
    live.clock.set_local(2026, 11, 26, 10, 0, 0)
    for path in ("/", "/clinic", "/privacy"):
        response = page.goto(path)
        assert response is not None and response.status == 200
        expect(page.locator("#open-status .open-status__headline")).to_have_text(
            "Closed today for Thanksgiving"
        )
        expect(page.locator("#open-status .open-status__detail")).to_have_text(
            "opens tomorrow at 9:00 AM ET"
        )
    page.goto("/clinic")
    items = page.locator("#closures ~ ul.closures > li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_text("Thursday, November 26, 2026: closed (Thanksgiving)")
    expect(items.nth(0).locator("time")).to_have_attribute("datetime", "2026-11-26")
    expect(items.nth(1)).to_have_text(
        "Thursday, December 24, 2026: open 9:00 AM – 1:00 PM (Christmas Eve)"
    )
    assert_clean(page, console)
