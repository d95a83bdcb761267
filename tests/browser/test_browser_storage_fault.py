"""A full disk under the live site, as a visitor meets it: with JavaScript the form stays, with
what was typed, and says it was not sent; without JavaScript the form comes back filled in,
with the same news. Once there is room again, the same form goes through.

The database sits on a 3 MB tmpfs of this module's own (mounting needs root, as CI runs).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import FakeClock, make_settings
from tests.http.test_storage_faults import fill
from webapp.app import create_app

from .conftest import DEFAULT_NOW, LiveServer, _ThreadedServer, csp_violations
from .test_browser_consultation import (
    HUMAN_DELAY_S,
    SERVER_ERROR,
    Tab,
    assert_no_axe_violations,
    assert_valid_values_kept,
    fill_valid,
    rows_named,
    send,
)

pytestmark = pytest.mark.browser
NOT_SENT = "Your request was not sent: the site cannot save anything just now."


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("small-disk")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a tmpfs (needs root); tests/http/test_storage_faults.py covers the "
            "full disk without one: " + mounted.stderr.strip()
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture(scope="module")
def live_server(disk: Path) -> Iterator[LiveServer]:
    """As tests/browser/conftest.py's, with the database on the small disk."""
    settings = make_settings(disk, database_path=disk / "clinic.db")
    clock = FakeClock(DEFAULT_NOW, running=True)
    config = uvicorn.Config(
        create_app(settings, clock=clock), host="127.0.0.1", port=0, log_level="warning",
        access_log=False, lifespan="on",
    )  # fmt: skip
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", clock, settings.database_path, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_with_javascript_the_form_stays_and_goes_through_once_there_is_room(
    page: Page, live: LiveServer, disk: Path
) -> None:
    name = "Ottoline Fairweather"
    tab = Tab(page, "/consultation")
    fill_valid(page, name, method="Phone call")
    live.clock.advance(seconds=HUMAN_DELAY_S)
    filler = fill(disk)
    try:
        send(page)
        problem = page.locator("#consultation [data-form-problem]")
        expect(problem).to_have_text(SERVER_ERROR)
        expect(problem).to_be_focused()
        assert_valid_values_kept(page, name, "Phone call")
        assert rows_named(live, name) == []
        assert_no_axe_violations(page, "form not sent: disk full")
    finally:
        filler.unlink()
    send(page)
    done = page.locator("#consultation.consultation--done")
    expect(done).to_be_focused()
    assert [row[1] for row in rows_named(live, name)] == [name]
    tab.assert_not_reloaded()
    assert csp_violations(page) == []


def test_without_javascript_the_form_comes_back_filled_in(
    browser: Browser, live: LiveServer, disk: Path
) -> None:
    name = "Peregrine Ashdown"
    context: BrowserContext = browser.new_context(base_url=live.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/consultation")
        fill_valid(page, name)
        live.clock.advance(seconds=HUMAN_DELAY_S)
        filler = fill(disk)
        try:
            with page.expect_navigation() as navigation:
                send(page)
            assert navigation.value is not None and navigation.value.status == 503
            expect(page.locator("#consultation .error-summary, #consultation [role=alert]")
                   .first).to_contain_text(NOT_SENT)  # fmt: skip
            assert_valid_values_kept(page, name, "Email")
        finally:
            filler.unlink()
        with page.expect_navigation():
            send(page)
        expect(page.locator("h1")).to_have_text("Request received")
        assert [row[1] for row in rows_named(live, name)] == [name]
    finally:
        context.close()
