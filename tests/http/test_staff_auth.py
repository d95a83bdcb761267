"""The staff area's door: every route guarded, sign-in, sessions, cookies, throttling, CSRF."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import urlencode

import pytest
from itsdangerous import Signer
from starlette.datastructures import Secret
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import webapp.accounts
import webapp.auth
from tests.conftest import TEST_SECRET, make_settings
from tests.helpers import (
    COOKIE,
    CSRF_FIELD,
    EMAIL,
    HX,
    NEXT_FIELD,
    PASSWORD,
    TOKEN_FIELD,
    add_request,
    add_staff,
    audit,
    copy_data,
    db_path,
    is_signed_in,
    login,
    login_form,
    query,
    with_cookie,
)
from webapp import cli
from webapp.app import create_app
from webapp.db import utc_now_iso
from webapp.views.staff_auth import LOGIN_ERROR

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "quarry-lantern-orbit-61"
OTHER_EMAIL = "doctor@example.org"
OTHER_PASSWORD = "granite-meadow-lantern-77"
OLD_KEY = "old-secret-key-that-is-long-enough-0123456789"
NEW_KEY = "new-secret-key-that-is-long-enough-9876543210"
ERROR_BOX = re.compile(r'<div class="error-summary"[^>]*><p>(.*?)</p></div>', re.S)
SAMPLE_PARAMS = {"consultation_id": "1", "day": "2026-12-25", "action": "disable"}
# The staff area's open doors: sign-in (both steps) and an invitation's password form.
OPEN_PATHS = {"/staff/login", "/staff/login/code", "/staff/invitation"}


# --- helpers and fixtures ----------------------------------------------------------------------


def login_cookie(client: TestClient, email: str = EMAIL, password: str = PASSWORD) -> str:
    """Sign in and return the cookie value, leaving the client's jar empty."""
    response = login(client, email, password)
    assert response.status_code == 303, response.text
    value = response.cookies[COOKIE]
    client.cookies.clear()
    return value


def csrf_for(client: TestClient, cookie: str | None = None) -> str:
    headers = with_cookie(cookie) if cookie else {}
    page = client.get("/staff", headers=headers)
    assert page.status_code == 200
    return CSRF_FIELD.search(page.text).group(1)


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def login_url(next_: str) -> str:
    return "/staff/login?" + urlencode({"next": next_})


def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data-copy"
    return target if target.exists() else copy_data(target)


def run_cli(monkeypatch, client: TestClient, tmp_path: Path, *argv: str) -> int:
    """`python -m webapp ...` in-process, on the app's own database."""
    monkeypatch.setenv("DATA_DIR", str(data_copy(tmp_path)))
    monkeypatch.setenv("DATABASE_PATH", str(db_path(client)))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    return cli.main(list(argv))


@pytest.fixture
def staff(client) -> int:
    """EMAIL's account, a member of staff (another account, made first, is the admin)."""
    add_staff(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    return add_staff(client)


@pytest.fixture
def staff_client(client, staff) -> TestClient:
    """The client signed in as EMAIL through the sign-in form; the cookie is in its jar."""
    response = login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff"
    return client


def staff_routes(app) -> list[tuple[str, str]]:
    """(method, URL) for every route under /staff except sign-in, Mounts expanded."""
    found: list[tuple[str, set[str]]] = []

    def walk(routes, prefix: str = "") -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route):
                found.append((prefix + route.path, route.methods or {"GET"}))

    walk(app.routes)
    result = []
    for path, methods in found:
        if not (path == "/staff" or path.startswith("/staff/")) or path in OPEN_PATHS:
            continue
        url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE_PARAMS.get(m.group(1), "1"), path)
        result.append(("GET" if "GET" in methods else "POST", url))
    return result


# --- every staff route is guarded --------------------------------------------------------------


def test_route_walk_finds_the_whole_staff_area(app):
    routes = staff_routes(app)
    assert ("GET", "/staff") in routes
    assert ("POST", "/staff/logout") in routes
    assert ("POST", "/staff/requests/1/status") in routes
    assert ("POST", "/staff/hours/2026-12-25/delete") in routes
    assert len(routes) >= 10
    assert all(url != "/staff/login" for _, url in routes)


@pytest.mark.parametrize("signed_in_elsewhere", [False, True])
def test_every_staff_route_sends_anonymous_full_page_requests_to_login(
    client, app, signed_in_elsewhere
):
    if signed_in_elsewhere:  # a live session of someone else changes nothing without its cookie
        add_staff(client)
        login_cookie(client)
    problems = []
    for method, url in staff_routes(app):
        response = client.request(
            method, url, data={"csrf": "x"} if method == "POST" else None, follow_redirects=False
        )
        expected = login_url(url if method == "GET" else "/staff")
        if response.status_code != 303 or response.headers.get("location") != expected:
            problems.append((method, url, response.status_code, response.headers.get("location")))
        elif response.headers.get("cache-control") != "no-store":
            problems.append((method, url, "cache-control", response.headers.get("cache-control")))
    assert problems == []


def test_every_staff_route_answers_anonymous_htmx_with_401_and_hx_redirect(client, app):
    problems = []
    for method, url in staff_routes(app):
        if method != "GET":
            continue  # actions get the sign-in dialog (below)
        response = client.request(
            method,
            url,
            data={"csrf": "x"} if method == "POST" else None,
            headers={"HX-Request": "true"},
            follow_redirects=False,
        )
        expected = login_url(url if method == "GET" else "/staff")
        if (
            response.status_code != 401
            or response.headers.get("hx-redirect") != expected
            or "location" in response.headers
            or response.content != b""
        ):
            problems.append((method, url, response.status_code, dict(response.headers)))
    assert problems == []


def test_every_anonymous_htmx_action_gets_a_sign_in_dialog_on_the_same_page(client, app):
    problems = []
    posts = [url for method, url in staff_routes(app) if method == "POST"]
    assert len(posts) >= 10
    for url in posts:
        response = client.post(url, data={"csrf": "x"}, headers=HX, follow_redirects=False)
        if (
            response.status_code != 401
            or response.headers.get("hx-retarget") != "body"
            or response.headers.get("hx-reswap") != "beforeend"
            or "hx-redirect" in response.headers
            or '<dialog id="reauth"' not in response.text
            or response.headers.get("cache-control") != "no-store"
        ):
            problems.append((url, response.status_code, dict(response.headers)))
    assert problems == []


def test_anonymous_get_keeps_its_query_in_next(client):
    response = client.get("/staff?status=new&q=ann", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == login_url("/staff?status=new&q=ann")


def test_the_sign_in_page_is_open_and_not_cached_or_indexed(client):
    response = client.get("/staff/login")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-robots-tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in response.text
    assert 'name="email"' in response.text and 'type="password"' in response.text
    assert 'autocomplete="current-password"' in response.text


def test_next_url_is_honoured_after_login(client, staff):
    first = client.get("/staff/hours", follow_redirects=False)
    assert first.headers["location"] == login_url("/staff/hours")
    form = login_form(client, "/staff/hours")
    assert form["next"] == "/staff/hours"
    response = client.post(
        "/staff/login",
        data={**form, "email": EMAIL, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/hours"
    page = client.get("/staff/hours")
    assert page.status_code == 200
    assert "<h1>Hours and closures</h1>" in page.text


def test_next_url_with_a_query_survives_the_round_trip(client, staff):
    response = login(client, next_="/staff?status=new&q=ann")
    assert response.headers["location"] == "/staff?status=new&q=ann"


def test_a_signed_in_visit_to_the_login_page_goes_on(staff_client):
    response = staff_client.get("/staff/login?next=/staff/hours", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/hours"
    response = staff_client.get("/staff/login?next=https://evil.example", follow_redirects=False)
    assert response.headers["location"] == "/staff"


UNSAFE_NEXT = [
    "https://evil.example",
    "https://evil.example/staff",
    "//evil.example",
    "//evil.example/staff",
    "/\\evil.example",
    "\\\\evil.example",
    "/public-page",
    "/clinic",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    " //evil.example",
    "\t//evil.example",
    "/staff/login",
    "/staff/login?next=https://evil.example",
    "",
    "/staff/" + "x" * 600,
]


def test_unsafe_next_falls_back_to_the_dashboard(client, staff):
    for target in UNSAFE_NEXT:
        form = login_form(client, target)
        assert form["next"] == "/staff", target
        # Even when the hidden field is edited, the server decides.
        response = client.post(
            "/staff/login",
            data={**form, "next": target, "email": EMAIL, "password": PASSWORD},
            follow_redirects=False,
        )
        assert response.status_code == 303, target
        assert response.headers["location"] == "/staff", target
        client.cookies.clear()


@pytest.mark.parametrize(
    "target", ["/staff/../clinic", "/staff/./../clinic", "/staff/%2e%2e/clinic", "/staff/.."]
)
def test_dot_segments_cannot_lead_out_of_the_staff_area(client, staff, target):
    # Found as a bug in the first version of safe_next: the browser resolves the dots.
    response = login(client, next_=target)
    assert response.headers["location"] == "/staff"


def test_a_failed_attempt_keeps_the_next_url(client, staff):
    # Found as a bug in the first version: the re-rendered form lost `next`.
    form = login_form(client, "/staff/hours")
    failed = client.post(
        "/staff/login", data={**form, "email": EMAIL, "password": "not-the-password-1"}
    )
    assert failed.status_code == 400
    assert NEXT_FIELD.search(failed.text).group(1) == "/staff/hours"
    retry = {
        "token": TOKEN_FIELD.search(failed.text).group(1),
        "next": NEXT_FIELD.search(failed.text).group(1),
    }
    response = client.post(
        "/staff/login",
        data={**retry, "email": EMAIL, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/staff/hours"


def test_a_locked_out_form_keeps_the_next_url_and_still_checks_it(client, staff):
    form = login_form(client, "/staff/hours")
    for _ in range(5):
        client.post("/staff/login", data={**form, "email": EMAIL, "password": "nope-nope-1"})
    locked = client.post("/staff/login", data={**form, "email": EMAIL, "password": PASSWORD})
    assert locked.status_code == 429
    assert NEXT_FIELD.search(locked.text).group(1) == "/staff/hours"
    evil = client.post(
        "/staff/login",
        data={**form, "next": "https://evil.example", "email": EMAIL, "password": "x"},
    )
    assert NEXT_FIELD.search(evil.text).group(1) == "/staff"


def test_an_expired_session_during_htmx_polling_returns_to_a_full_page(client, staff):
    # Found as a bug in the first version: `next` was the fragment's URL.
    response = client.get(
        "/staff/new-count",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/staff?status=new"},
    )
    assert response.status_code == 401
    target = response.headers["hx-redirect"]
    assert target == login_url("/staff?status=new")
    form_page = client.get(target)
    form = {
        "token": TOKEN_FIELD.search(form_page.text).group(1),
        "next": NEXT_FIELD.search(form_page.text).group(1),
    }
    landed = client.post("/staff/login", data={**form, "email": EMAIL, "password": PASSWORD})
    assert landed.status_code == 200
    assert str(landed.url) == "http://testserver/staff?status=new"
    assert "<html" in landed.text


@pytest.mark.parametrize(
    "current", ["https://evil.example/", "http://testserver/clinic", "//evil.example/x", "junk"]
)
def test_htmx_current_url_outside_the_staff_area_is_not_a_next_url(client, current):
    response = client.get(
        "/staff/new-count", headers={"HX-Request": "true", "HX-Current-URL": current}
    )
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == login_url("/staff")


# --- cookies and sessions ----------------------------------------------------------------------


def test_cookie_attributes_over_http(client, staff):
    response = login(client)
    header = set_cookies(response)[COOKIE]
    attributes = [part.strip().lower() for part in header.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes
    assert not any(a.startswith(("domain=", "expires=", "max-age=")) for a in attributes)
    assert "__Host-aki_staff" not in set_cookies(response)
    assert response.headers["cache-control"] == "no-store"


def test_cookie_attributes_over_https(tmp_path, clock):
    settings = make_settings(tmp_path, https_only=True, base_url="https://testserver")
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url="https://testserver") as client:
        add_staff(client)
        # The plain-HTTP origin of the same host is another origin.
        assert login(client, headers={"Origin": "http://testserver"}).status_code == 403
        response = login(client, headers={"Origin": "https://testserver"})
        assert response.status_code == 303
        cookies = set_cookies(response)
        assert sorted(cookies) == ["__Host-aki_device", "__Host-aki_staff"]
        device = [part.strip().lower() for part in cookies["__Host-aki_device"].split(";")]
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= set(device)
        assert f"max-age={180 * 24 * 3600}" in device
        attributes = [part.strip().lower() for part in cookies["__Host-aki_staff"].split(";")]
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attributes)
        assert not any(a.startswith("domain=") for a in attributes)
        value = response.cookies["__Host-aki_staff"]
        client.cookies.clear()
        ok = client.get("/staff", headers=with_cookie(value, "__Host-aki_staff"))
        assert ok.status_code == 200
        # The plain name is not read when the site runs on HTTPS.
        plain = client.get("/staff", headers=with_cookie(value), follow_redirects=False)
        assert plain.status_code == 303
        logout = client.post(
            "/staff/logout",
            data={"csrf": CSRF_FIELD.search(ok.text).group(1)},
            headers=with_cookie(value, "__Host-aki_staff"),
            follow_redirects=False,
        )
        deleted = set_cookies(logout)["__Host-aki_staff"].lower()
        assert "max-age=0" in deleted and "secure" in deleted and "path=/" in deleted


def test_only_a_hash_of_the_session_id_is_stored(client, staff):
    cookie = login_cookie(client)
    session_id, signature = cookie.rsplit(".", 1)
    assert len(session_id) >= 43 and signature
    rows = query(client, "SELECT * FROM sessions")
    assert len(rows) == 1
    assert rows[0]["id_hash"] == hashlib.sha256(session_id.encode()).hexdigest()
    assert all(session_id not in str(value) for value in tuple(rows[0]))


def _resign(cookie: str, key: str) -> str:
    session_id = cookie.rsplit(".", 1)[0]
    return Signer(key, salt="staff-session", digest_method=hashlib.sha256).sign(session_id).decode()


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


FORGERIES = {
    # Not the last character: its low bits are base64 padding and may not change the bytes.
    "signature-changed": lambda c: _flip(c, len(c) - 2),
    "id-changed": lambda c: _flip(c, 0),
    "signature-dropped": lambda c: c.rsplit(".", 1)[0],
    "other-key": lambda c: _resign(c, "another-key-entirely-" + "z" * 30),
    "junk": lambda c: "not.a.cookie",
    "too-long": lambda c: c + "x" * 200,
    "empty": lambda c: "",
}


def test_forged_cookies_are_anonymous(client, staff):
    cookie = login_cookie(client)
    assert is_signed_in(client, cookie)
    for name, forge in FORGERIES.items():
        assert not is_signed_in(client, forge(cookie)), name
    assert is_signed_in(client, cookie)


def test_an_unknown_but_validly_signed_id_is_anonymous(client, staff):
    login_cookie(client)
    forged = Signer(TEST_SECRET, salt="staff-session", digest_method=hashlib.sha256).sign(
        secrets.token_urlsafe(32)
    )
    assert not is_signed_in(client, forged.decode())


def test_a_valid_signature_from_another_purpose_is_refused(client, staff):
    cookie = login_cookie(client)
    session_id = cookie.rsplit(".", 1)[0]
    other_salt = Signer(TEST_SECRET, salt="consultation-form", digest_method=hashlib.sha256)
    assert not is_signed_in(client, other_salt.sign(session_id).decode())


def test_idle_session_expires_after_30_minutes(client, staff, clock):
    cookie = login_cookie(client)
    clock.advance(minutes=29)
    assert is_signed_in(client, cookie)
    clock.advance(minutes=31)
    assert not is_signed_in(client, cookie)
    assert query(client, "SELECT count(*) FROM sessions")[0][0] == 0
    # Going back in time does not bring it back: it was deleted.
    clock.advance(minutes=-31)
    assert not is_signed_in(client, cookie)


def test_absolute_limit_of_12_hours_even_with_activity(client, staff, clock):
    cookie = login_cookie(client)
    for _ in range(35):  # 11 h 40 min of clicking every 20 minutes
        clock.advance(minutes=20)
        assert is_signed_in(client, cookie)
    clock.advance(minutes=20)  # 12 h
    assert is_signed_in(client, cookie)
    clock.advance(minutes=1)
    assert not is_signed_in(client, cookie)


def test_last_seen_is_written_at_most_once_a_minute(client, staff, clock):
    cookie = login_cookie(client)
    (created,) = query(client, "SELECT last_seen_at FROM sessions")[0]
    clock.advance(seconds=50)
    assert is_signed_in(client, cookie)
    assert query(client, "SELECT last_seen_at FROM sessions")[0][0] == created
    clock.advance(seconds=20)
    assert is_signed_in(client, cookie)
    assert query(client, "SELECT last_seen_at FROM sessions")[0][0] == utc_now_iso(clock())


def test_a_cookie_replayed_after_logout_is_anonymous(client, staff):
    cookie = login_cookie(client)
    token = csrf_for(client, cookie)
    response = client.post(
        "/staff/logout", data={"csrf": token}, headers=with_cookie(cookie), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/login"
    assert response.headers["cache-control"] == "no-store"
    deleted = set_cookies(response)[COOKIE].lower()
    assert "max-age=0" in deleted and "path=/" in deleted
    assert not is_signed_in(client, cookie)
    assert query(client, "SELECT count(*) FROM sessions")[0][0] == 0
    [entry] = audit(client, "logout")
    assert entry["actor"] == EMAIL and entry["staff_id"] is not None


def test_htmx_logout_says_where_to_go(client, staff):
    cookie = login_cookie(client)
    response = client.post(
        "/staff/logout",
        data={"csrf": csrf_for(client, cookie)},
        headers=with_cookie(cookie, **{"HX-Request": "true"}),
        follow_redirects=False,
    )
    assert response.headers["hx-redirect"] == "/staff/login"


def test_a_disabled_account_loses_its_sessions_at_once(client, staff, tmp_path, monkeypatch):
    cookie = login_cookie(client)
    assert run_cli(monkeypatch, client, tmp_path, "disable-staff", EMAIL) == 0
    assert not is_signed_in(client, cookie)
    refused = login(client)
    assert refused.status_code == 400 and LOGIN_ERROR in refused.text
    assert run_cli(monkeypatch, client, tmp_path, "enable-staff", EMAIL) == 0
    assert not is_signed_in(client, cookie)  # the old session stays ended
    assert login(client).status_code == 303


def test_a_disabled_account_with_a_surviving_session_row_is_still_anonymous(client, staff):
    cookie = login_cookie(client)
    with closing(sqlite3.connect(db_path(client))) as conn, conn:
        conn.execute("UPDATE staff SET active = 0 WHERE email = ?", (EMAIL,))
    assert not is_signed_in(client, cookie)


def test_each_login_gets_its_own_session(client, staff):
    first = login_cookie(client)
    second = login_cookie(client)
    assert first != second
    assert query(client, "SELECT count(*) FROM sessions")[0][0] == 2
    assert is_signed_in(client, first) and is_signed_in(client, second)
    assert csrf_for(client, first) != csrf_for(client, second)
    client.post("/staff/logout", data={"csrf": csrf_for(client, first)}, headers=with_cookie(first))
    assert not is_signed_in(client, first)
    assert is_signed_in(client, second)


def test_signing_in_again_never_reuses_the_presented_cookie(client, staff):
    form = {**login_form(client), "email": EMAIL, "password": PASSWORD}
    first = client.post("/staff/login", data=form, follow_redirects=False)
    before = first.cookies[COOKIE]
    assert client.cookies[COOKIE] == before
    # The same form posted again while the cookie is presented: a new session, never the old.
    second = client.post("/staff/login", data=form, follow_redirects=False)
    assert second.status_code == 303
    assert second.cookies[COOKIE] != before


def test_key_rotation_keeps_old_cookies_working(tmp_path, clock):
    old = make_settings(tmp_path, secret_keys=(Secret(OLD_KEY),))
    with TestClient(create_app(old, clock=clock)) as client:
        add_staff(client)
        old_cookie = login_cookie(client)
    rotated = make_settings(tmp_path, secret_keys=(Secret(NEW_KEY), Secret(OLD_KEY)))
    with TestClient(create_app(rotated, clock=clock)) as client:
        assert is_signed_in(client, old_cookie)
        new_cookie = login_cookie(client)
        assert new_cookie == _resign(new_cookie, NEW_KEY)  # new cookies use the first key
    only_new = make_settings(tmp_path, secret_keys=(Secret(NEW_KEY),))
    with TestClient(create_app(only_new, clock=clock)) as client:
        assert is_signed_in(client, new_cookie)
        assert not is_signed_in(client, old_cookie)  # the retired key no longer verifies


# --- signing in --------------------------------------------------------------------------------


def disable(client, email: str = EMAIL) -> None:
    """Disable an account as the command line would."""
    db = client.app.ctx.db
    staff_id = client.portal.call(webapp.accounts.staff_id_for, db, email)
    client.portal.call(
        webapp.accounts.set_active, db, staff_id, False, webapp.accounts.CLI, client.app.ctx.clock()
    )


@pytest.fixture
def disabled(client, staff) -> None:
    disable(client)


@pytest.mark.parametrize(
    ("email", "password", "setup"),
    [
        pytest.param("nobody@example.org", PASSWORD, "staff", id="unknown-email"),
        pytest.param(EMAIL, "wrong-password-guess-1", "staff", id="wrong-password"),
        pytest.param(EMAIL, PASSWORD, "disabled", id="disabled-account"),
        pytest.param("", PASSWORD, "staff", id="blank-email"),
        pytest.param(EMAIL, "", "staff", id="blank-password"),
        pytest.param("", "", "staff", id="both-blank"),
        pytest.param(EMAIL.upper() + " ", "Violet-harbor-teapot-42", "staff", id="case-of-pw"),
    ],
)
def test_every_failure_gets_the_same_message(client, request, email, password, setup):
    request.getfixturevalue(setup)
    response = login(client, email, password)
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    assert COOKIE not in set_cookies(response)
    assert ERROR_BOX.findall(response.text) == [LOGIN_ERROR.replace("'", "&#39;")]
    assert 'id="login-password" name="password" type="password"' in response.text
    # The password is never sent back into the page.
    if password:
        assert password not in response.text


def test_wrong_password_and_disabled_account_pages_are_identical(client, staff):
    def page() -> str:
        response = login(client, EMAIL, "wrong-password-guess-1")
        return TOKEN_FIELD.sub("", response.text)

    wrong = page()
    disable(client)
    disabled_page = TOKEN_FIELD.sub("", login(client, EMAIL, PASSWORD).text)
    unknown = TOKEN_FIELD.sub("", login(client, "nobody@example.org", "x").text)
    assert wrong == disabled_page
    assert wrong == unknown.replace("nobody@example.org", EMAIL)


def test_email_matches_in_any_case(client, staff):
    response = login(client, "  Nurse@EXAMPLE.org ", PASSWORD)
    assert response.status_code == 303
    [entry] = audit(client, "login")
    assert entry["actor"] == EMAIL


def test_successful_login_is_audited(client, staff):
    response = login(client)
    assert response.status_code == 303
    [entry] = audit(client, "login")
    assert entry["actor"] == EMAIL
    assert entry["staff_id"] == staff
    assert entry["consultation_id"] is None


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 300, "é"])
def test_a_missing_or_forged_login_token_is_refused(client, staff, token):
    response = client.post(
        "/staff/login", data={"token": token, "email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert "The sign-in form had expired" in response.text
    assert COOKIE not in set_cookies(response)
    assert audit(client, "login") == []


def test_a_login_form_older_than_12_hours_is_refused(client, staff, clock):
    form = login_form(client)
    clock.advance(hours=12, seconds=1)
    response = client.post("/staff/login", data={**form, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.text
    assert response.text.count('name="token"') == 1  # a fresh form to try again


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_login_from_another_site_is_refused(client, staff, headers):
    response = login(client, headers=headers)
    assert response.status_code == 403
    assert COOKIE not in set_cookies(response)
    assert audit(client, "login") == []


def test_login_from_the_site_itself_is_accepted(client, staff):
    response = login(
        client, headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 303


def test_login_needs_a_url_encoded_form(client, staff):
    form = login_form(client)
    response = client.post(
        "/staff/login", files={"email": (None, EMAIL)}, data={**form, "password": PASSWORD}
    )
    assert response.status_code == 415
    assert audit(client, "login") == audit(client, "login_failed") == []


def test_five_failures_lock_the_account_even_for_the_right_password(client, staff, clock):
    for _ in range(5):
        assert login(client, EMAIL, "wrong-password-guess-1").status_code == 400
    response = login(client)
    assert response.status_code == 429
    retry = int(response.headers["retry-after"])
    assert 0 < retry <= 15 * 60 + 1
    assert "Too many failed attempts. Try again in 15 minutes." in response.text
    assert COOKIE not in set_cookies(response)
    assert response.headers["cache-control"] == "no-store"
    assert query(client, "SELECT count(*) FROM sessions")[0][0] == 0
    # The lock is per account: the same email in another case is the same account.
    assert login(client, EMAIL.upper(), PASSWORD).status_code == 429
    clock.advance(minutes=16)
    assert login(client).status_code == 303


def test_ten_failures_from_one_client_lock_it_out_across_emails(client, staff, clock):
    for n in range(10):
        assert login(client, f"guess{n}@example.org", "whatever-guess").status_code == 400
    response = login(client)  # a real account with its right password
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    clock.advance(minutes=16)
    assert login(client).status_code == 303


def test_four_failures_do_not_lock(client, staff):
    for _ in range(4):
        login(client, EMAIL, "wrong-password-guess-1")
    assert login(client).status_code == 303


def test_audit_trail_of_sign_ins_has_no_passwords(client, staff, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-password-guess-1"
    assert login(client).status_code == 303
    client.cookies.clear()
    for _ in range(5):
        login(client, EMAIL, wrong)
    assert login(client).status_code == 429
    actions = [row["action"] for row in audit(client) if row["action"] != "account_created"]
    assert actions == ["login"] + ["login_failed"] * 5 + ["login_locked"]
    for row in audit(client):
        if row["action"] == "account_created":
            continue
        assert row["actor"] == EMAIL
        assert row["consultation_id"] is None
        for value in row.values():
            assert PASSWORD not in str(value) and wrong not in str(value)
    failed = audit(client, "login_failed")[0]
    assert failed["detail"] == "from testclient"
    assert audit(client, "login_locked")[0]["detail"] == "login-account: from testclient"
    assert any("repeated failures" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + str(record.args)
        assert PASSWORD not in text and wrong not in text


def test_a_blank_email_is_audited_as_blank(client):
    login(client, "", "something")
    [entry] = audit(client, "login_failed")
    assert entry["actor"] == "(blank)"


# --- CSRF and same-origin checks on every state-changing form --------------------------------


def _post_targets(client) -> dict[str, tuple[str, dict[str, str]]]:
    request_id = add_request(client, email="ann@example.org", phone="+15185550123")
    return {
        "status": (f"/staff/requests/{request_id}/status", {"status": "contacted"}),
        "note": (f"/staff/requests/{request_id}/notes", {"note": "Called, left a message."}),
        "logout": ("/staff/logout", {}),
        "hours-add": ("/staff/hours", {"day": "2026-12-24", "reason": "Christmas Eve"}),
        "hours-remove": ("/staff/hours/2026-12-25/delete", {}),
    }


def _snapshot(client) -> dict[str, list[tuple]]:
    tables = ("consultations", "notes", "closures", "sessions", "audit_log")
    return {t: [tuple(r) for r in query(client, f"SELECT * FROM {t}")] for t in tables}  # noqa: S608


@pytest.mark.parametrize("target", ["status", "note", "logout", "hours-add", "hours-remove"])
def test_state_changing_posts_need_this_sessions_token_and_same_origin(client, staff, target):
    add_staff(client, OTHER_EMAIL, OTHER_PASSWORD)
    theirs = login_cookie(client, OTHER_EMAIL, OTHER_PASSWORD)
    mine = login_cookie(client)
    with closing(sqlite3.connect(db_path(client))) as conn, conn:
        conn.execute(
            "INSERT INTO closures (day, reason, created_at) VALUES ('2026-12-25', 'Christmas',"
            " '2026-11-01T00:00:00.000000Z')"
        )
    url, fields = _post_targets(client)[target]
    token, their_token = csrf_for(client, mine), csrf_for(client, theirs)
    attacks = {
        "missing": ({**fields, "other": "x"}, {}),
        "empty": ({**fields, "csrf": ""}, {}),
        "other-session": ({**fields, "csrf": their_token}, {}),
        "wrong": ({**fields, "csrf": token[:-1]}, {}),
        "cross-site": ({**fields, "csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
        "same-site": ({**fields, "csrf": token}, {"Sec-Fetch-Site": "same-site"}),
        "origin": ({**fields, "csrf": token}, {"Origin": "https://evil.example"}),
        "null-origin": ({**fields, "csrf": token}, {"Origin": "null"}),
    }
    before = _snapshot(client)
    for attack, (data, extra) in attacks.items():
        response = client.post(
            url, data=data, headers=with_cookie(mine, **extra), follow_redirects=False
        )
        assert response.status_code == 403, attack
        assert _snapshot(client) == before, attack
    # A POST with no body at all is refused too (there is no form to read).
    bare = client.post(url, headers=with_cookie(mine), follow_redirects=False)
    assert bare.status_code in (403, 415)
    assert _snapshot(client) == before
    assert is_signed_in(client, mine)


def test_the_same_posts_succeed_with_the_right_token(client, staff):
    mine = login_cookie(client)
    token = csrf_for(client, mine)
    for name, (url, fields) in _post_targets(client).items():
        if name == "logout":
            continue
        response = client.post(
            url,
            data={**fields, "csrf": token},
            headers=with_cookie(mine, **{"Sec-Fetch-Site": "same-origin"}),
            follow_redirects=False,
        )
        assert response.status_code == 303, (name, response.text)


@pytest.mark.parametrize("token", ["é", "✓" * 43, "\x00"])
def test_a_non_ascii_csrf_token_is_a_403_not_a_crash(staff_client, token):
    # Found as a bug in the first version: hmac.compare_digest raised TypeError (a 500).
    response = staff_client.post("/staff/hours", data={"csrf": token, "day": "2026-12-24"})
    assert response.status_code == 403
    assert query(staff_client, "SELECT count(*) FROM closures")[0][0] == 0


def test_staff_forms_must_be_url_encoded(staff_client):
    token = csrf_for(staff_client)
    response = staff_client.post(
        "/staff/hours",
        files={"reason": (None, "Holiday")},
        data={"csrf": token, "day": "2026-12-24"},
    )
    assert response.status_code == 415
    assert query(staff_client, "SELECT count(*) FROM closures")[0][0] == 0


def test_staff_pages_are_private(staff_client):
    for path in ("/staff", "/staff/hours", "/staff/new-count", "/staff/requests.csv"):
        response = staff_client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-robots-tag"] == "noindex, nofollow", path


def test_the_staff_nav_shows_who_is_signed_in_and_a_sign_out_form(staff_client):
    page = staff_client.get("/staff").text
    assert f"({EMAIL})" in page
    assert 'action="/staff/logout" method="post"' in page
    assert CSRF_FIELD.search(page)
