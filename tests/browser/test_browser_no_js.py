"""With JavaScript off the site still works: server-rendered banner, plain-link navigation."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import PUBLIC_PAGES, ConsoleLog, LiveServer, watch

pytestmark = pytest.mark.browser


@pytest.fixture
def no_js(browser: Browser, live: LiveServer) -> Iterator[tuple[Page, ConsoleLog]]:
    ctx = browser.new_context(base_url=live.url, java_script_enabled=False)
    try:
        page = ctx.new_page()
        yield page, watch(page)
    finally:
        ctx.close()


def assert_banner(page: Page, headline: str, detail: str) -> None:
    expect(page.locator("#open-status .open-status__headline")).to_have_text(headline)
    expect(page.locator("#open-status .open-status__detail")).to_have_text(detail)


@pytest.mark.parametrize("path", [*PUBLIC_PAGES, "/no-such-page"])
def test_every_page_renders_with_the_banner_without_javascript(
    no_js: tuple[Page, ConsoleLog], live: LiveServer, path: str
) -> None:
    page, console = no_js
    live.clock.set_local(2026, 12, 1, 16, 30, 0)  # Tuesday, half an hour before closing
    response = page.goto(path)
    assert response is not None
    assert response.status == (404 if path == "/no-such-page" else 200)
    assert_banner(page, "Closes in 30 min", "closes at 5:00 PM ET")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("nav[aria-label='Main'] a")).to_have_count(4)
    expect(page.locator("#open-status-announcer")).to_have_text("")
    assert [e for e in console.errors if "status of 404" not in e] == []


def test_navigation_works_without_javascript(
    no_js: tuple[Page, ConsoleLog], live: LiveServer
) -> None:
    page, console = no_js
    nav = page.locator("nav[aria-label='Main']")
    page.goto("/")
    assert_banner(page, "Open now", "closes at 5:00 PM ET")
    expect(nav.get_by_role("link", name="Home")).to_have_attribute("aria-current", "page")

    nav.get_by_role("link", name="Article").click()
    expect(page).to_have_url(re.compile(r"/articles/$"))
    expect(page.locator("h1")).to_have_text("Articles")
    expect(nav.get_by_role("link", name="Article")).to_have_attribute("aria-current", "page")

    page.locator("main .article-list a").first.click()
    expect(page).to_have_url(re.compile(r"/articles/does-ketamine-treat-depression$"))
    expect(page.locator("h1#article-title")).to_be_visible()
    assert_banner(page, "Open now", "closes at 5:00 PM ET")

    nav.get_by_role("link", name="Hours & directions").click()
    expect(page).to_have_url(re.compile(r"/clinic$"))
    expect(page.locator("h1")).to_have_text("Hours, address and directions")
    expect(nav.get_by_role("link", name="Hours & directions")).to_have_attribute(
        "aria-current", "page"
    )

    page.locator("footer").get_by_role("link", name="Privacy").click()
    expect(page).to_have_url(re.compile(r"/privacy$"))
    expect(page.locator("h1")).to_have_text("Privacy")
    expect(nav.locator("[aria-current]")).to_have_count(0)

    page.locator("header .brand").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("h1")).to_contain_text("Ketamine infusion therapy")

    # The 404 page offers a way on.
    page.goto("/no-such-page")
    page.locator("main").get_by_role("link", name="Hours and directions").click()
    expect(page).to_have_url(re.compile(r"/clinic$"))
    assert_banner(page, "Open now", "closes at 5:00 PM ET")
    assert [e for e in console.errors if "status of 404" not in e] == []
