"""Every public page in a real Chromium: status, console, CSP, axe and phone layout."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from .conftest import PUBLIC_PAGES, ConsoleLog, LiveServer, csp_violations

pytestmark = pytest.mark.browser

NOT_FOUND = "/no-such-page"
PAGES = [*((path, 200) for path in PUBLIC_PAGES), (NOT_FOUND, 404)]
PAGE_IDS = [path for path, _ in PAGES]
AXE = Axe()


def load(page: Page, path: str, status: int) -> None:
    response = page.goto(path, wait_until="load")
    assert response is not None, f"no response for {path}"
    assert response.status == status, f"{path}: HTTP {response.status}, expected {status}"
    # htmx is deferred; once it is up it has processed the banner's triggers.
    page.wait_for_function("() => typeof window.htmx === 'object'")


@pytest.mark.parametrize(("path", "status"), PAGES, ids=PAGE_IDS)
def test_page_loads_clean_and_has_no_axe_violations(
    page: Page, console: ConsoleLog, live: LiveServer, path: str, status: int
) -> None:
    response = page.goto(path, wait_until="load")
    assert response is not None
    assert response.status == status, f"{path}: HTTP {response.status}, expected {status}"
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "style-src 'self'" in csp, csp
    page.wait_for_function("() => typeof window.htmx === 'object'")
    # The stylesheet applied (blocked CSS would leave the skip link in view).
    assert page.locator(".skip-link").evaluate("el => el.getBoundingClientRect().bottom <= 0")
    assert page.locator("#open-status").count() == 1
    assert page.locator("#open-status-announcer").count() == 1
    assert page.locator("h1").count() == 1

    results = AXE.run(page)
    assert results.violations_count == 0, (
        f"{path}: {results.violations_count} axe violation(s)\n{results.generate_report()}"
    )

    assert csp_violations(page) == []
    # Chromium logs the document's own 4xx status as one "Failed to load resource" error.
    own_status = f"the server responded with a status of {status}"
    unexpected = [e for e in console.errors if status < 400 or own_status not in e]
    assert unexpected == []
    assert len(console.errors) == (1 if status >= 400 else 0), console.errors


@pytest.mark.parametrize("width", [390, 320], ids=["phone-390", "reflow-320"])
@pytest.mark.parametrize("path", ["/", "/articles/does-ketamine-treat-depression"])
def test_no_horizontal_scroll_on_a_phone(browser, live: LiveServer, path: str, width: int) -> None:
    """390x844 is a current phone; 320 CSS px is WCAG 1.4.10's reflow width (400% zoom)."""
    # The longest banner text there is, so it has to wrap rather than overflow.
    live.add_closure("2026-12-01", "Staff training day")
    ctx = browser.new_context(
        base_url=live.url,
        viewport={"width": width, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = ctx.new_page()
        load(page, path, 200)
        widths = page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth,"
            " client: document.documentElement.clientWidth})"
        )
        assert widths["client"] == width, widths
        expect(page.locator("#open-status .open-status__headline")).to_have_text(
            "Closed today for Staff training day"
        )
        assert widths["scroll"] <= widths["client"], f"{path} scrolls sideways: {widths}"
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(el => el.getBoundingClientRect().right
                    > document.documentElement.clientWidth + 1)
                .map(el => el.outerHTML.slice(0, 120))"""
        )
        assert wide == [], f"{path}: elements wider than the viewport: {wide}"
    finally:
        ctx.close()


def same_origin_links(page: Page) -> list[str]:
    """Every link on the page that stays on the site, as absolute URLs without fragments."""
    return page.evaluate(
        """() => [...new Set([...document.querySelectorAll('a[href]')]
            .map(a => new URL(a.getAttribute('href'), document.baseURI))
            .filter(u => u.origin === location.origin)
            .map(u => u.origin + u.pathname + u.search))]"""
    )


def test_internal_links_and_fragments_resolve(page: Page, live: LiveServer) -> None:
    broken: dict[str, list[str]] = {}
    status_of: dict[str, int] = {}
    ids_on: dict[str, set[str]] = {}
    anchors: list[tuple[str, str, str]] = []  # (page, target path, fragment)
    for path in PUBLIC_PAGES:
        load(page, path, 200)
        ids_on[path] = set(page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)"))
        # Skip link, table of contents, the footer's /clinic#closures: each needs its target.
        anchors += [
            (path, target, fragment)
            for target, fragment in page.evaluate(
                """() => [...document.querySelectorAll('a[href*="#"]')]
                    .map(a => new URL(a.getAttribute('href'), document.baseURI))
                    .filter(u => u.origin === location.origin && u.hash.length > 1)
                    .map(u => [u.pathname, decodeURIComponent(u.hash.slice(1))])"""
            )
        ]
        for url in same_origin_links(page):
            if url not in status_of:
                status_of[url] = page.request.get(url, max_redirects=0).status
            if status_of[url] != 200:
                broken.setdefault(path, []).append(f"{url} -> {status_of[url]}")
    assert broken == {}
    missing = [
        f"{path}: {target}#{fragment}"
        for path, target, fragment in anchors
        if target in ids_on and fragment not in ids_on[target]
    ]
    assert missing == []
    checked = {target for _, target, _ in anchors if target in ids_on}
    assert {"/", "/clinic", "/articles/does-ketamine-treat-depression"} <= checked, anchors
    for path in ("/clinic", "/privacy", "/consultation"):
        assert f"{live.url}{path}" in status_of, f"no page links to {path}"


def test_skip_link_is_first_tab_stop_and_moves_focus_to_main(page: Page, live: LiveServer) -> None:
    load(page, "/", 200)
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    top = skip.evaluate("el => el.getBoundingClientRect().top")
    assert top >= 0, f"focused skip link is off-screen (top={top})"
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    assert page.evaluate("location.hash") == "#main"


def test_closing_soon_banner_has_no_axe_violations(page: Page, live: LiveServer) -> None:
    """Each state has its own colours. Open is scanned on every page above, closed after the
    live change in test_browser_open_status; this is the remaining one."""
    live.clock.set_local(2026, 12, 1, 16, 30)
    load(page, "/clinic", 200)
    expect(page.locator("#open-status")).to_have_class(re.compile(r"\bopen-status--closing-soon\b"))
    results = AXE.run(page, context="header")
    assert results.violations_count == 0, (
        f"closing-soon banner: {results.violations_count} axe violation(s)\n"
        f"{results.generate_report()}"
    )
