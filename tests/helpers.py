"""Helpers shared by the HTTP tests: page text, the consultation form, staff sign-in, the CLI,
and a transport that records what the HTTP protocol writes.

A plain module (no fixtures): the fixtures stay in tests/conftest.py and the test modules.
"""

from __future__ import annotations

import asyncio
import html as htmllib
import itertools
import re
import secrets
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

import webapp.auth
import webapp.closures
from webapp.db import utc_now_iso
from webapp.settings import ROOT, Settings

HX = {"HX-Request": "true"}
TOKEN_FIELD = re.compile(r'name="token" value="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def words(page: str) -> str:
    """The visible text, tags removed and whitespace collapsed, entities decoded."""
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))).strip()


# --- the consultation form ---------------------------------------------------------------------

VALID = {
    "full_name": "Ada Lovelace",
    "email": "Ada@Example.COM",
    "phone": "(518) 555-0123",
    "contact_method": "call",
    "best_time": "afternoon",
    "message": "I have tried two antidepressants.\r\nCan ketamine help?",
    "consent": "yes",
}
TOKEN = re.compile(r'<input type="hidden" name="token" value="([^"]+)">')
REFERENCE = re.compile(r'Your reference is <strong class="reference">(AKI-[0-9A-Z]{5})</strong>')


def token_in(page: str) -> str:
    """The consultation form's hidden token."""
    match = TOKEN.search(page)
    assert match, "no form token in the page"
    return match.group(1)


def new_token(client: TestClient, clock, path: str = "/consultation", wait: float = 5) -> str:
    """Render the form like a browser, then let a person's `wait` seconds pass."""
    page = client.get(path)
    assert page.status_code == 200
    token = token_in(page.text)
    clock.advance(seconds=wait)
    return token


def form(token: str, **changes: str | None) -> dict[str, str]:
    """What the browser sends: the valid values, with changes (None leaves a field out)."""
    values = {"token": token, **VALID, "website": "", **changes}
    return {k: v for k, v in values.items() if v is not None}


def reference_in(page: str) -> str:
    match = REFERENCE.search(page)
    assert match, "no reference in the page"
    return match.group(1)


def rows(settings: Settings) -> list[dict]:
    """The stored consultation requests, oldest first."""
    with closing(sqlite3.connect(settings.database_path)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM consultations ORDER BY id")]


def count(settings: Settings) -> int:
    """How many consultation requests are stored."""
    with closing(sqlite3.connect(settings.database_path)) as conn:
        return conn.execute("SELECT count(*) FROM consultations").fetchone()[0]


# --- the staff area ----------------------------------------------------------------------------

EMAIL = "nurse@example.org"
PASSWORD = "violet-harbor-teapot-42"
COOKIE = "aki_staff"
NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')


def db_path(client: TestClient) -> Path:
    return client.app.ctx.settings.database_path


def query(client: TestClient, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(db_path(client))) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


def audit(client: TestClient, action: str | None = None) -> list[dict]:
    """The audit log as dicts, oldest first; only `action` entries when given."""
    rows = [dict(r) for r in query(client, "SELECT * FROM audit_log ORDER BY id")]
    return [r for r in rows if action is None or r["action"] == action]


def add_staff(client: TestClient, email: str = EMAIL, password: str = PASSWORD) -> int:
    """An account, created the way the CLI does (fast Argon2 parameters in tests)."""
    state = client.app.ctx
    return client.portal.call(
        webapp.auth.create_staff, state.db, email, state.hasher.hash_sync(password), state.clock()
    )


# References of requests the tests insert: from a counter, in letters that are no hex digit
# and no letter of a word the tests search for (no A-F, I, L, O, U, Z), so a search test
# never finds a request by its reference by chance.
_REFERENCE_LETTERS = "GHJKMNPQRSTVWXY"
_references = itertools.count(1)


def next_reference() -> str:
    """The next reference for a request a test inserts: AKI-GGGGH, AKI-GGGGJ, ..."""
    n, letters = next(_references), []
    for _ in range(5):
        n, digit = divmod(n, len(_REFERENCE_LETTERS))
        letters.append(_REFERENCE_LETTERS[digit])
    return "AKI-" + "".join(reversed(letters))


def add_request(
    client: TestClient,
    name: str = "Ann Example",
    *,
    email: str = "",
    phone: str = "",
    method: str | None = None,
    best_time: str = "any",
    message: str = "",
    status: str = "new",
    created: datetime | None = None,
    ago: timedelta = timedelta(0),
) -> int:
    """A consultation request inserted straight into the database; returns its id."""
    if not email and not phone:
        email = f"{secrets.token_hex(3)}@example.org"
    method = method or ("call" if phone else "email")
    stamp = utc_now_iso(created or client.app.ctx.clock() - ago)
    with closing(sqlite3.connect(db_path(client))) as conn, conn:
        cursor = conn.execute(
            "INSERT INTO consultations (reference, token_id, full_name, email, phone,"
            " contact_method, best_time, message, status, consent_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                next_reference(), secrets.token_hex(8), name, email, phone,
                method, best_time, message, status, stamp, stamp, stamp,
            ),
        )  # fmt: skip
        return int(cursor.lastrowid)


def login_form(client: TestClient, next_: str | None = None, **headers: str) -> dict[str, str]:
    """The hidden fields of a freshly loaded sign-in form."""
    url = "/staff/login" + (f"?{urlencode({'next': next_})}" if next_ is not None else "")
    page = client.get(url, headers=headers)
    assert page.status_code == 200, page.text
    return {
        "token": TOKEN_FIELD.search(page.text).group(1),
        "next": NEXT_FIELD.search(page.text).group(1).replace("&amp;", "&"),
    }


def login(
    client: TestClient,
    email: str = EMAIL,
    password: str = PASSWORD,
    *,
    next_: str | None = None,
    headers: dict[str, str] | None = None,
):
    """Sign in through the real form (GET the page, POST it back); the raw response."""
    fields = login_form(client, next_)
    return client.post(
        "/staff/login",
        data={**fields, "email": email, "password": password},
        headers=headers or {},
        follow_redirects=False,
    )


def with_cookie(value: str, name: str = COOKIE, **extra: str) -> dict[str, str]:
    return {"cookie": f"{name}={value}", **extra}


def is_signed_in(client: TestClient, cookie: str) -> bool:
    """True when this cookie alone opens the dashboard; False when it is sent to sign in
    (no redirects followed: the client's jar may hold another session)."""
    response = client.get("/staff", headers=with_cookie(cookie), follow_redirects=False)
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200


# --- the command line --------------------------------------------------------------------------

CLI_SECRET = "cli-test-secret-key-that-is-long-enough-0123456789"
CLI_ENV_NAMES = (
    "DATA_DIR",
    "DATABASE_PATH",
    "SECRET_KEY",
    "HTTPS_ONLY",
    "ALLOWED_HOSTS",
    "FORWARDED_ALLOW_IPS",
    "BASE_URL",
    "DEBUG",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_TLS",
    "MAIL_FROM",
)


def copy_data(target: Path) -> Path:
    """A copy of the repo's data/ folder without runtime state (database, secret)."""
    shutil.copytree(
        ROOT / "data", target, ignore=shutil.ignore_patterns("*.db", "*.db-*", "secret_key")
    )
    return target


def cli_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment for `webapp.cli.main()`: a copy of data/, a database path in a
    fresh folder under tmp_path (not created yet), a fixed secret. Returns the database path."""
    for name in CLI_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(copy_data(tmp_path / "data")))
    path = tmp_path / "db" / "clinic.db"
    path.parent.mkdir()
    monkeypatch.setenv("DATABASE_PATH", str(path))
    monkeypatch.setenv("SECRET_KEY", CLI_SECRET)
    return path


# --- closures, as staff and the CLI set them ---------------------------------------------------


def put_closure(client: TestClient, entry, *, as_of=None) -> None:
    """Save a closure through the domain (audited, refused for past dates), as staff would;
    `as_of` (a date) saves it as if on that earlier day."""
    app = client.app.ctx
    now = app.clock()
    today = as_of or now.astimezone(app.clinic.schedule.tz).date()
    client.portal.call(webapp.closures.put, app.db, entry, now, today, "test")


def remove_closure(client: TestClient, day) -> bool:
    """Remove a closure through the domain (audited)."""
    app = client.app.ctx
    return client.portal.call(webapp.closures.remove, app.db, day, app.clock(), "test")


class RecordingTransport(asyncio.Transport):
    """A connection that keeps each write (a writelines is one write: one system call)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def received(self) -> bytes:
        return b"".join(self.writes)

    def one_head_alone(self) -> bool:
        """One write so far, and it is a 200's head with no body."""
        return (
            len(self.writes) == 1
            and self.writes[0].startswith(b"HTTP/1.1 200 OK")
            and self.writes[0].endswith(b"\r\n\r\n")
        )
