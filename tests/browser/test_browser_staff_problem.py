"""Staff actions that cannot be saved say so on the page, and keep what was typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from .conftest import LiveServer, csp_violations
from .test_browser_staff import (  # noqa: F401 (staff_account is a fixture)
    assert_no_axe_violations,
    seed_request,
    sign_in,
    staff_account,
)

pytestmark = pytest.mark.browser
NOTE = "Called at 10:40; left a message with the front desk."


@pytest.mark.parametrize(
    ("failure", "name", "reference"),
    [
        ("server error", "Noor Servererr", "AKI-F0001"),
        ("network down", "Noor Offline", "AKI-F0002"),
    ],
)
@pytest.mark.usefixtures("staff_account")
def test_a_note_that_cannot_be_saved_is_kept_and_the_page_says_so(
    page: Page, live: LiveServer, failure: str, name: str, reference: str
) -> None:
    seed_request(live, name, reference)
    page.goto(f"{live.url}/staff/login?next=/staff?q={reference}")
    sign_in(page)
    page.get_by_role("link", name=name).click()
    page.wait_for_function("() => typeof window.htmx === 'object'")

    def refuse(route: Route) -> None:
        if failure == "server error":
            route.fulfill(status=503, body="503 Service Unavailable", headers={"Retry-After": "60"})
        else:
            route.abort("connectionrefused")

    page.route("**/notes", refuse)
    page.locator("#note").fill(NOTE)
    page.get_by_role("button", name="Add note").click()
    problem = page.locator("[data-page-problem]")
    expect(problem).to_be_visible()
    expect(problem).to_be_focused()
    expect(problem).to_contain_text("Not saved" if failure == "server error" else "Not sent")
    expect(page.locator("#note")).to_have_value(NOTE)
    assert_no_axe_violations(page, f"staff note not saved: {failure}")
    assert csp_violations(page) == []

    # Once the site answers again, the same note goes through and the message goes away.
    page.unroute("**/notes")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".notes")).to_contain_text(NOTE)
    expect(problem).to_be_hidden()
