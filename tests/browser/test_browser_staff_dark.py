"""The staff pages follow the dark scheme too, with the same contrast: axe finds nothing on
any of them in the light or the dark scheme (signed in as an admin, with a request listed)."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

import pytest
from playwright.sync_api import Browser, expect

from webapp.auth import Hasher

from .conftest import LiveServer, fresh_context
from .test_browser_form_states import STAMP, axe_in_both_schemes

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin.dark@example.org"
ADMIN_PASSWORD = "lantern-quarry-meadow-58"
PAGES = [
    "/staff",
    "/staff?status=spam",
    "/staff/hours",
    "/staff/account",
    "/staff/account/two-factor",
    "/staff/accounts",
]


@pytest.fixture
def admin(live: LiveServer) -> str:
    with closing(sqlite3.connect(live.database_path, timeout=5, isolation_level=None)) as conn:
        if not conn.execute("SELECT 1 FROM staff WHERE email = ?", (ADMIN_EMAIL,)).fetchone():
            conn.execute(
                "INSERT INTO staff (email, password_hash, active, role, created_at, updated_at)"
                " VALUES (?, ?, 1, 'admin', ?, ?)",
                (ADMIN_EMAIL, Hasher(fast=True).hash_sync(ADMIN_PASSWORD), STAMP, STAMP),
            )
        if not conn.execute("SELECT 1 FROM consultations WHERE reference = 'AKI-DARK1'").fetchone():
            conn.execute(
                "INSERT INTO consultations (reference, token_id, full_name, email, phone,"
                " contact_method, best_time, message, status, consent_at, created_at,"
                " updated_at) VALUES ('AKI-DARK1', 'dark-token-1', 'Dorian Dusk',"
                " 'dorian@example.org', '', 'email', 'any', 'Evenings.', 'new', ?, ?, ?)",
                (STAMP, STAMP, STAMP),
            )
    return ADMIN_EMAIL


def test_every_staff_page_is_axe_clean_in_both_schemes(
    browser: Browser, live: LiveServer, admin: str
) -> None:
    with fresh_context(browser, live) as ctx:
        page = ctx.new_page()
        page.goto("/staff/login")
        page.locator("#login-email").fill(admin)
        page.locator("#login-password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/staff$"))
        for path in PAGES:
            assert page.goto(path).status == 200, path
            axe_in_both_schemes(page, path)
        page.goto("/staff")
        page.locator("#request-list").get_by_role("link", name="Dorian Dusk").click()
        expect(page.locator("#request-detail")).to_be_visible()
        axe_in_both_schemes(page, "a request's page")
        assert page.goto(page.url + "/erase").status == 200
        axe_in_both_schemes(page, "erasing a request: the confirmation")
        page.goto("/staff/accounts")
        page.locator("#invite-email").fill("newcomer.dark@example.org")
        page.locator("#invite-email").press("Enter")
        expect(page.locator("#invited-title")).to_be_visible()
        page.locator("details summary").first.click()
        expect(page.locator(".invite-message")).to_be_visible()
        axe_in_both_schemes(page, "an invitation just made")
    with fresh_context(browser, live) as ctx:  # signed out: a link that is no good
        page = ctx.new_page()
        page.goto("/staff/invitation?token=no-such-invitation")
        axe_in_both_schemes(page, "an invitation link that does not work")
