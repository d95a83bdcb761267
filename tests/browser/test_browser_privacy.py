"""An admin honours a person's request in a real Chromium: downloads a copy (the readable
page is checked with axe too), then erases their data through the confirmation page, with a
same-contact request ticked; axe on every page and state, no CSP violation."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import closing

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from .conftest import (
    LiveServer,
    add_request,
    add_staff,
    connect,
    csp_violations,
    fresh_context,
    no_axe_violations,
    watch,
)

pytestmark = pytest.mark.browser

ADMIN, ADMIN_PW = "privacy.admin@example.org", "quarry-lantern-orbit-61"
STAMP = "2026-11-01T15:00:00.000000Z"
MESSAGE = "Please call me."


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> None:
    add_staff(live_server, (ADMIN, ADMIN_PW, "admin"))


@pytest.fixture
def context(browser: Browser, live: LiveServer, admin: None) -> Iterator[BrowserContext]:
    with fresh_context(browser, live) as ctx:
        yield ctx


def held(live: LiveServer, request_id: int) -> bool:
    with closing(connect(live)) as conn:
        found = conn.execute("SELECT 1 FROM consultations WHERE id = ?", (request_id,))
        return found.fetchone() is not None


def test_an_admin_downloads_a_copy_then_erases_the_persons_data(
    context: BrowserContext, live: LiveServer
):
    email = f"sam.{secrets.token_hex(3)}@example.org"
    asked, asked_ref = add_request(live, "Sam Erasure", email=email, message=MESSAGE, created=STAMP)
    again, again_ref = add_request(
        live,
        "Sam Erasure",
        email=email.upper(),
        phone="+15185550188",
        message=MESSAGE,
        created=STAMP,
    )
    page = context.new_page()
    console = watch(page)
    page.goto("/staff/login")
    page.locator("#login-email").fill(ADMIN)
    page.locator("#login-password").fill(ADMIN_PW)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/staff$"))

    page.goto(f"/staff/requests/{asked}")
    section = page.get_by_role("region", name="This person's data")
    expect(section).to_contain_text(f"{again_ref}: Sam Erasure (same email)")
    no_axe_violations(page, "the request page with the person's data")

    with page.expect_download() as download_info:
        section.get_by_role("button", name="Download a copy (web page)").click()
    download = download_info.value
    assert download.suggested_filename.startswith(asked_ref)
    copy = download.path().read_text(encoding="utf-8")
    assert "Sam Erasure" in copy and "Please call me." in copy and again_ref not in copy
    reader = context.new_page()
    reader.set_content(copy)
    no_axe_violations(reader, "the copy the person receives")
    reader.close()

    section.get_by_role("link", name="Erase this person's data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erase this person's data")
    box = page.get_by_role("checkbox")
    expect(box).not_to_be_checked()
    no_axe_violations(page, "the erasure confirmation")
    box.check()
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erased")
    expect(page.locator("main")).to_contain_text(f"{asked_ref}: erased: no longer held")
    expect(page.locator("main")).to_contain_text(f"{again_ref}: erased: no longer held")
    no_axe_violations(page, "the erased page")
    assert not held(live, asked) and not held(live, again)
    page.goto(f"/staff/requests/{asked}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert csp_violations(page) == []
    assert [e for e in console.errors if "status of 404" not in e] == []
