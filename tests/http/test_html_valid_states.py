"""The Nu HTML checker over every other page and state: the staff pages (empty, full,
searched, with errors), sign-in failures, the form's notices (expired, forged, rate-limited,
not sent), and the error pages (404, 405, 503, 500). tests/http/test_html_valid.py checks
the public pages as first shown."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import (
    CSRF_FIELD,
    HX,
    add_request,
    add_staff,
    form,
    login,
    new_token,
    put_closure,
)
from tests.nu import nu_problems
from webapp import closures
from webapp.app import create_app
from webapp.storage import StorageUnavailable

# What htmx swaps in is checked inside a bare page of its own.
FRAGMENT_PAGE = (
    '<!doctype html><html lang="en-US"><head><meta charset="utf-8"><title>Fragment</title>'
    "</head><body><main><h1>Fragment</h1>{}</main></body></html>"
)


def problems_in(pages: dict[str, str], folder: Path) -> list[str]:
    """The checker's findings, each fragment inside a bare page of its own."""
    documents = {}
    for name, text in pages.items():
        if name.startswith("fragment-"):
            assert not text.lstrip().lower().startswith("<!doctype"), f"{name} is a page"
            text = FRAGMENT_PAGE.format(text)
        assert text.lstrip().lower().startswith("<!doctype html>"), f"{name} is no page"
        documents[name] = text
    return nu_problems(documents, folder)


def staff_pages(client: TestClient, clock) -> dict[str, str]:
    pages: dict[str, str] = {}
    login_page = client.get("/staff/login")
    pages["staff-login"] = login_page.text
    pages["staff-login-failed"] = login(client, password="not the password").text
    add_staff(client)
    assert login(client).status_code == 303
    pages["staff-dashboard-empty"] = client.get("/staff").text
    first = add_request(client, "Ann Example", phone="+15185550123", message="Line one\nTwo",
                        ago=timedelta(days=3))  # fmt: skip
    for i in range(30):
        add_request(client, f"Person {i}", status="contacted" if i % 3 else "new")
    pages["staff-dashboard"] = client.get("/staff").text
    pages["staff-dashboard-page-2"] = client.get("/staff?page=2").text
    pages["staff-search"] = client.get("/staff?q=Ann&status=new").text
    pages["staff-search-none"] = client.get("/staff?q=nobody-matches-this").text
    detail = client.get(f"/staff/requests/{first}")
    csrf = CSRF_FIELD.search(detail.text).group(1)
    client.post(f"/staff/requests/{first}/notes", data={"csrf": csrf, "note": "Called back."})
    client.post(f"/staff/requests/{first}/status", data={"csrf": csrf, "status": "contacted"})
    pages["staff-request"] = client.get(f"/staff/requests/{first}").text
    pages["staff-request-note-error"] = client.post(
        f"/staff/requests/{first}/notes", data={"csrf": csrf, "note": "  "}
    ).text
    pages["staff-request-status-error"] = client.post(
        f"/staff/requests/{first}/status", data={"csrf": csrf, "status": "new"}
    ).text
    today = clock().astimezone(client.app.ctx.clinic.schedule.tz).date()
    put_closure(client, closures.make_override(today + timedelta(days=5), "Staff training"))
    put_closure(client, closures.make_override(today + timedelta(days=9), "Short day",
                                               "10:00", "14:00"))  # fmt: skip
    pages["staff-hours"] = client.get("/staff/hours").text
    pages["staff-hours-error"] = client.post(
        "/staff/hours", data={"csrf": csrf, "day": "2020-01-01", "reason": "x", "kind": "closed"}
    ).text
    pages["staff-not-found"] = client.get("/staff/requests/999999").text
    return pages


def fragments(client: TestClient, clock) -> dict[str, str]:
    """What htmx asks for and swaps in, signed in as staff."""
    found: dict[str, str] = {}
    token = new_token(client, clock)
    found["fragment-form-errors"] = client.post(
        "/consultation", data=form(token, email="x", phone=None), headers=HX
    ).text
    found["fragment-check"] = client.post(
        "/consultation/check?fields=email", data=form(token, email="x"), headers=HX
    ).text
    found["fragment-done"] = client.post("/consultation", data=form(token), headers=HX).text
    found["fragment-open-status"] = client.get("/open-status", headers=HX).text
    found["fragment-staff-list"] = client.get("/staff?q=Person", headers=HX).text
    found["fragment-new-count"] = client.get("/staff/new-count", headers=HX).text
    return found


def form_states(client: TestClient, clock, app) -> dict[str, str]:
    pages: dict[str, str] = {}
    token = new_token(client, clock)
    clock.advance(days=2)
    pages["form-expired"] = client.post("/consultation", data=form(token)).text
    pages["form-forged"] = client.post("/consultation", data=form("forged")).text
    for _ in range(5):
        client.post("/consultation", data=form(new_token(client, clock)))
    # Without JavaScript the answer is a 303 to the page that shows the form again.
    limited = client.post("/consultation", data=form(new_token(client, clock)))
    assert limited.status_code == 200 and limited.history[0].status_code == 303
    assert "Your request was not sent" in limited.text
    pages["form-rate-limited"] = limited.text
    pages["fragment-form-rate-limited"] = client.post(
        "/consultation", data=form(new_token(client, clock)), headers=HX
    ).text
    return pages


def test_every_state_is_valid_html(tmp_path, clock, monkeypatch):
    settings = make_settings(tmp_path)
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        pages = staff_pages(client, clock)
        pages.update(fragments(client, clock))
        csrf = CSRF_FIELD.search(client.get("/staff/hours").text).group(1)

        async def refused(work):
            raise StorageUnavailable("read-only", "test: the database is read-only")

        with monkeypatch.context() as patched:
            patched.setattr(app.ctx.db, "write", refused)
            patched.setattr(app.ctx.db, "write_in_thread", refused)  # the group commit
            not_sent = client.post("/consultation", data=form(_token(app, clock)))
            assert not_sent.status_code == 503
            pages["form-not-sent"] = not_sent.text
            closure = {"csrf": csrf, "day": "2030-01-02", "reason": "Closed", "kind": "closed"}
            unsaved = client.post("/staff/hours", data=closure)
            assert unsaved.status_code == 503
            pages["staff-not-saved"] = unsaved.text
        pages.update(form_states(client, clock, app))
        pages["method-not-allowed"] = client.post("/clinic").text
        pages["no-such-article"] = client.get("/articles/" + "a" * 300).text

        def explode(*args):
            raise RuntimeError("boom")

        monkeypatch.setattr(app.ctx.articles, "all", explode)
        failed = client.get("/articles/")
        assert failed.status_code == 500
        pages["server-error"] = failed.text
    problems = problems_in(pages, tmp_path)
    assert problems == [], "\n".join(problems)


def _token(app, clock) -> str:
    """A form token old enough to be sent (no page fetch: reads work, writes do not)."""
    return app.ctx.form_tokens.issue(clock() - timedelta(seconds=5))


def test_the_not_sent_form_keeps_the_text_for_htmx_and_plain_posts(tmp_path, clock, monkeypatch):
    app = create_app(make_settings(tmp_path), clock=clock)
    with TestClient(app) as client:

        async def refused(work):
            raise StorageUnavailable("disk full", "test: the disk is full")

        monkeypatch.setattr(app.ctx.db, "write", refused)
        monkeypatch.setattr(app.ctx.db, "write_in_thread", refused)  # the group commit
        for headers in ({}, HX):
            answer = client.post("/consultation", data=form(_token(app, clock)), headers=headers)
            assert answer.status_code == 503
            assert re.search(r'value="Ada Lovelace"', answer.text)
            assert "Your request was not sent" in answer.text
