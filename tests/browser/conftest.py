"""Real-browser fixtures: Debian's Chromium driven by Playwright against a live uvicorn server.

Each test module gets its own server (own temporary database, own running FakeClock); each test
gets a fresh browser context, a reset clock and an empty closures table. One Chromium serves all
the browser tests: it is package-scoped (hence this directory's __init__.py), not session-scoped,
because Playwright's sync API keeps an asyncio loop running in the main thread while it is
started, and then every later test that calls asyncio.run() fails.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.conftest import ET, FakeClock, make_settings
from webapp import pagecache
from webapp.app import create_app
from webapp.auth import Hasher

CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
# Tuesday 2026-12-01, 10:30 in Albany: open, and more than an hour before closing.
DEFAULT_NOW = datetime(2026, 12, 1, 10, 30, tzinfo=ET)
PUBLIC_PAGES = (
    "/",
    "/articles/",
    "/articles/does-ketamine-treat-depression",
    "/clinic",
    "/privacy",
    "/consultation",
)
# Collected in the page before any of its scripts run; CDP-injected, so the CSP cannot block it.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`
      + ` at ${e.sourceFile}:${e.lineNumber}`
  );
});
"""


def chromium_executable() -> str:
    """Debian's Chromium: $CHROMIUM_BIN, else the usual paths; fail (never skip) without it."""
    configured = os.environ.get("CHROMIUM_BIN", "").strip()
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            return configured
        pytest.fail(
            f"CHROMIUM_BIN={configured!r} is not an executable file; unset it to use Debian's"
            " Chromium (apt-get install -y --no-install-recommends chromium)",
            pytrace=False,
        )
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "No Chromium found for the browser tests (looked at $CHROMIUM_BIN, "
        + ", ".join(CHROMIUM_CANDIDATES)
        + "). Install it with: apt-get install -y --no-install-recommends chromium",
        pytrace=False,
    )


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, args=["--disable-gpu", "--disable-quic"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


class _ThreadedServer(uvicorn.Server):
    """uvicorn in a worker thread: signals belong to the main thread (pytest's)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # uvicorn >= 0.29
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        pass


@dataclass
class LiveServer:
    """A running app: its base URL, the clock it reads and its database file."""

    url: str
    clock: FakeClock
    database_path: Path
    _server: uvicorn.Server = field(repr=False)

    def reset(self) -> None:
        """Back to the default instant with no closures, as every test starts."""
        self.clock.set(DEFAULT_NOW)
        self.clear_closures()

    def _connect(self) -> sqlite3.Connection:
        # autocommit; the app keeps its own connections open (WAL), so wait for its locks.
        return sqlite3.connect(self.database_path, timeout=5, isolation_level=None)

    def add_closure(
        self, day: str, reason: str, opens: str | None = None, closes: str | None = None
    ) -> None:
        """Insert a dated closure (day 'YYYY-MM-DD'; no hours = closed all day)."""
        conn = self._connect()
        try:
            conn.execute(
                "INSERT INTO closures (day, opens, closes, reason, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (day, opens, closes, reason, "2026-11-01T00:00:00.000000Z"),
            )
        finally:
            conn.close()
        self.notice_other_process_changes()

    def clear_closures(self) -> None:
        """Delete every closure (as the CLI would, from another connection)."""
        conn = self._connect()
        try:
            # Most tests add none: skip the write (and its fsync) then.
            if conn.execute("SELECT EXISTS (SELECT 1 FROM closures)").fetchone()[0]:
                conn.execute("DELETE FROM closures")
                self.notice_other_process_changes()
        finally:
            conn.close()

    def notice_other_process_changes(self) -> None:
        """The site re-reads closures written by another process (the CLI, or this test)
        within pagecache.RECHECK of its own clock: move that clock on instead of sleeping."""
        self.clock.advance(seconds=pagecache.RECHECK.total_seconds() + 0.05)


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """The app served on 127.0.0.1:<free port> from a daemon thread, for one test module
    (a module's LIVE_SETTINGS dict changes its settings, e.g. a shorter polling interval)."""
    tmp = tmp_path_factory.mktemp("browser-server")
    settings = make_settings(tmp, **getattr(request.module, "LIVE_SETTINGS", {}))
    clock = FakeClock(DEFAULT_NOW, running=True)
    app = create_app(settings, clock=clock)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            pytest.fail("the live server did not start (see the captured log)", pytrace=False)
        time.sleep(0.01)
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{port}",
            clock=clock,
            database_path=settings.database_path,
            _server=server,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def live(live_server: LiveServer) -> LiveServer:
    """The module's server, reset to the default instant with no closures."""
    live_server.reset()
    return live_server


STAFF_STAMP = "2026-11-01T15:00:00.000000Z"
_AXE = Axe()


def connect(live: LiveServer) -> sqlite3.Connection:
    """The live server's database, for setting up what a test needs."""
    return sqlite3.connect(live.database_path, timeout=5, isolation_level=None)


def add_request(
    live: LiveServer,
    name: str,
    *,
    email: str = "",
    phone: str = "",
    method: str | None = None,
    message: str = "",
    created: str = "2026-11-01T15:00:00.000000Z",
    reference: str | None = None,
    token_id: str | None = None,
) -> tuple[int, str]:
    """A new request stored straight into the live server's database: (id, reference).
    Contact by email when there is one, else by phone, unless `method` says."""
    reference = reference or "AKI-" + secrets.token_hex(3).upper()
    with contextlib.closing(connect(live)) as conn:
        cursor = conn.execute(
            "INSERT INTO consultations (reference, token_id, full_name, email, phone,"
            " contact_method, best_time, message, status, consent_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'any', ?, 'new', ?, ?, ?)",
            (reference, token_id or secrets.token_hex(8), name, email, phone,
             method or ("email" if email else "call"), message, created, created, created),
        )  # fmt: skip
        return int(cursor.lastrowid), reference


def add_staff(live: LiveServer, *accounts: tuple[str, str, str]) -> None:
    """Active staff accounts (email, password, role), with a quick password hash."""
    hasher = Hasher(fast=True)
    with contextlib.closing(connect(live)) as conn:
        for email, password, role in accounts:
            conn.execute(
                "INSERT INTO staff (email, password_hash, active, role, created_at, updated_at)"
                " VALUES (?, ?, 1, ?, ?, ?)",
                (email, hasher.hash_sync(password), role, STAFF_STAMP, STAFF_STAMP),
            )


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/staff/login")
    page.locator("#login-email").fill(email)
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def no_axe_violations(page: Page, state: str) -> None:
    """axe-core finds nothing on the page as it stands (`state` names it in the report)."""
    results = _AXE.run(page)
    assert results.violations_count == 0, f"{state}:\n{results.generate_report()}"


class ConsoleLog:
    """Console errors and uncaught page errors seen by one page."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location
            self.errors.append(f"console.error: {message.text} ({location.get('url', '')})")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"pageerror: {error}")


def watch(page: Page) -> ConsoleLog:
    """Record the page's console errors and uncaught exceptions from now on."""
    log = ConsoleLog()
    page.on("console", log.on_console)
    page.on("pageerror", log.on_page_error)
    return log


def csp_violations(page: Page) -> list[str]:
    """What the page's `securitypolicyviolation` listener (CSP_LISTENER) has collected."""
    return page.evaluate("window.__cspViolations || []")


MARKER = "window.__noReloadMarker"


class Tab:
    """A page opened once (with htmx ready), with proof that it was never reloaded after."""

    def __init__(self, page: Page, path: str = "/") -> None:
        self.page = page
        self.loads = 0
        # A page still loading (the one a sign-in led to) must not count as a reload.
        page.wait_for_load_state("load")
        page.on("load", self._on_load)
        response = page.goto(path, wait_until="load")
        assert response is not None and response.status == 200
        page.wait_for_function("() => typeof window.htmx === 'object'")
        page.evaluate(f"{MARKER} = 'set at load'")

    def _on_load(self, _page: Page) -> None:
        self.loads += 1

    def assert_not_reloaded(self) -> None:
        """The window marker survived and only the first load event fired."""
        assert self.page.evaluate(f"() => {MARKER}") == "set at load", "the page was reloaded"
        assert self.loads == 1, f"{self.loads} load events"


@contextlib.contextmanager
def fresh_context(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    """A browser context of its own (cookies, cache), JavaScript on, CSP listener installed."""
    ctx = browser.new_context(base_url=live.url)
    ctx.add_init_script(CSP_LISTENER)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def context(browser: Browser, live: LiveServer) -> Iterator[BrowserContext]:
    """A fresh context (no cookies or cache shared between tests), JavaScript on."""
    with fresh_context(browser, live) as ctx:
        yield ctx


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def console(page: Page) -> ConsoleLog:
    return watch(page)
