"""Without JavaScript, a form that comes back is a redirect to a GET (Post/Redirect/Get): the
typed values wait server-side under a random id, never in a URL or a log, and are deleted once
sent or expired. A rate-limited visitor is told plainly, keeps what they typed, and is shown the
clinic's phone number where one is set."""

from __future__ import annotations

import logging
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.helpers import HX, copy_data, count, form, new_token, token_in, words
from webapp.app import create_app
from webapp.views.consultation import DRAFT_LIMIT

PRIVATE = {
    "full_name": "Quentin Zebulon-Marsh",
    "email": "quentin.private@example.org",
    "phone": "(518) 555-0142",
    "message": "I have felt low since the spring and my doctor suggested asking.",
}
GONE = "The details typed on this page are no longer kept"


def drafts_kept(settings) -> int:
    """Drafts still holding what was typed (a sent or replaced one is blanked at once; the
    drafts job deletes it on its next run, test_draft_traces.py)."""
    with closing(sqlite3.connect(settings.database_path)) as conn:
        return conn.execute("SELECT count(*) FROM form_drafts WHERE fields <> '{}'").fetchone()[0]


def fail(client, clock, **changes):
    """A no-JS send that comes back (consent not ticked unless changed): the 303."""
    data = form(new_token(client, clock), **{**PRIVATE, "consent": None, **changes})
    response = client.post("/consultation", data=data, follow_redirects=False)
    assert response.status_code == 303
    return response


def test_the_error_page_is_a_get_with_nothing_personal_in_its_url(client, clock, settings, caplog):
    # The app's own lines at every level; libraries at the level the site runs them (INFO).
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="webapp")
    response = fail(client, clock)
    location = response.headers["location"]
    assert re.fullmatch(r"/consultation/details/[A-Za-z0-9_-]{32}", location)
    for value in PRIVATE.values():
        for piece in re.findall(r"\w{4,}", value):
            assert piece.lower() not in location.lower()
    page = client.get(location)
    assert page.status_code == 200
    assert "Tick the box to agree" in words(page.text)
    assert 'value="Quentin Zebulon-Marsh"' in page.text
    assert f'<input type="hidden" name="draft" value="{location.rsplit("/", 1)[1]}">' in page.text
    # Sending it from there stores it and forgets the draft at once.
    clock.advance(seconds=1)
    data = form(token_in(page.text), **PRIVATE, draft=location.rsplit("/", 1)[1])
    sent = client.post("/consultation", data=data, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/consultation/thanks?c=")
    assert count(settings) == 1 and drafts_kept(settings) == 0
    # Back from the thanks page: the page no longer holds the details, and says why.
    back = client.get(location)
    assert back.status_code == 200
    assert GONE in words(back.text)
    assert "If you sent your request, you do not need to send it again." in words(back.text)
    assert "Quentin" not in back.text and "error-summary" not in back.text
    # Nothing typed ever reached a log line.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for value in PRIVATE.values():
        assert value not in logged
    assert "Quentin" not in logged and "spring" not in logged


def test_a_draft_expires_after_ten_minutes_and_the_job_purges_it(client, clock, settings):
    location = fail(client, clock).headers["location"]
    clock.advance(minutes=9, seconds=59)
    assert "Quentin" in client.get(location).text
    clock.advance(seconds=1)
    page = client.get(location)
    assert page.status_code == 200 and GONE in words(page.text) and "Quentin" not in page.text
    assert drafts_kept(settings) == 1
    outcomes = client.portal.call(client.app.ctx.jobs.tick)
    assert "1 expired form drafts deleted" in [o.summary for o in outcomes]
    assert drafts_kept(settings) == 0
    # Not a trace in the database file, its write-ahead log or its index, site still running.
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{settings.database_path}{suffix}")
        raw = file.read_bytes() if file.exists() else b""
        assert b"Zebulon" not in raw and b"quentin.private" not in raw, suffix


@pytest.mark.parametrize("draft_id", ["x" * 32, "nonsense", "x'%20OR%201=1", "%C3%A9" * 32])
def test_an_unknown_draft_shows_an_empty_form(client, draft_id):
    page = client.get(f"/consultation/details/{draft_id}")
    assert page.status_code == 200
    assert GONE in words(page.text)
    assert '<meta name="robots" content="noindex">' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert token_in(page.text)


def test_too_many_drafts_from_one_address_show_the_page_directly(client, clock, settings):
    for _ in range(DRAFT_LIMIT.limit):
        fail(client, clock)
    data = form(new_token(client, clock), **{**PRIVATE, "consent": None})
    response = client.post("/consultation", data=data, follow_redirects=False)
    # Nothing is lost: the errors and the typed values come straight back.
    assert response.status_code == 422
    assert 'value="Quentin Zebulon-Marsh"' in response.text
    assert "Tick the box to agree" in words(response.text)
    assert drafts_kept(settings) == DRAFT_LIMIT.limit


def test_the_form_pages_draft_field_is_only_ever_a_lookup(client, clock, settings):
    """A forged draft field cannot read or break anything: at most it forgets that draft."""
    response = client.post(
        "/consultation", data=form(new_token(client, clock), draft="../../x' OR 1=1"), headers=HX
    )
    assert response.status_code == 200
    assert count(settings) == 1


# --- the rate limit, with and without a phone number -------------------------------------------


def clinic_with_phone(tmp_path: Path) -> Path:
    data = copy_data(tmp_path / "data")
    toml = data / "clinic.toml"
    toml.write_text(toml.read_text().replace('phone = ""', 'phone = "+1-518-555-0100"', 1))
    return data


def limited(client, clock, htmx: bool):
    for _ in range(5):
        assert client.post("/consultation", data=form(new_token(client, clock)),
                           headers=HX).status_code == 200  # fmt: skip
    data = form(new_token(client, clock), **PRIVATE)
    return client.post("/consultation", data=data, headers=HX if htmx else {})


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
@pytest.mark.parametrize("phone", [True, False], ids=["phone set", "no phone"])
def test_a_rate_limited_visitor_is_told_plainly(tmp_path, clock, htmx, phone):
    data_dir = clinic_with_phone(tmp_path) if phone else copy_data(tmp_path / "data")
    settings = make_settings(tmp_path, data_dir=data_dir)
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        response = limited(client, clock, htmx)
        if htmx:
            assert response.status_code == 429
            assert int(response.headers["retry-after"]) > 0
        else:
            assert [r.status_code for r in response.history] == [303]
            assert response.status_code == 200
        text = words(response.text)
        assert "Your request was not sent" in text
        assert "Your details are still here. Please press Send request again in about" in text
        for name, value in PRIVATE.items():
            field = 'id="cf-message"' if name == "message" else f'value="{value}"'
            assert field in response.text and value in response.text
        call = "Or call us at +1-518-555-0100 during opening hours."
        assert (call in text) is phone
        assert ('href="tel:+15185550100"' in response.text) is phone
        assert count(settings) == 5


def test_an_error_on_the_details_page_replaces_its_draft(client, clock, settings):
    first = fail(client, clock).headers["location"]
    page = client.get(first)
    first_id = first.rsplit("/", 1)[1]
    clock.advance(seconds=1)
    data = form(token_in(page.text), **{**PRIVATE, "consent": None}, draft=first_id)
    second = client.post("/consultation", data=data, follow_redirects=False)
    assert second.status_code == 303 and second.headers["location"] != first
    assert drafts_kept(settings) == 1
    assert GONE in words(client.get(first).text)
    assert "Quentin" in client.get(second.headers["location"]).text


def test_htmx_keeps_naming_the_draft_until_it_is_sent(client, clock, settings):
    """A page reached without JavaScript, then sent with it: the draft is still forgotten."""
    location = fail(client, clock).headers["location"]
    draft_id = location.rsplit("/", 1)[1]
    page = client.get(location)
    clock.advance(seconds=1)
    data = form(token_in(page.text), **{**PRIVATE, "email": "bad@"}, draft=draft_id)
    again = client.post("/consultation", data=data, headers=HX)
    assert again.status_code == 422
    assert f'<input type="hidden" name="draft" value="{draft_id}">' in again.text
    sent = client.post("/consultation", data=form(token_in(again.text), **PRIVATE, draft=draft_id),
                       headers=HX)  # fmt: skip
    assert sent.status_code == 200
    assert drafts_kept(settings) == 0 and count(settings) == 1


def test_a_thanks_link_from_before_the_promise_was_kept_still_states_it(client, clock):
    clock.set_local(2026, 12, 1, 16, 38)
    old = client.app.ctx.done_tokens.dumps(
        {"r": "AKI-AAAAA", "t": clock().timestamp(), "m": "call"}
    )
    page = client.get(f"/consultation/thanks?c={old}")
    assert page.status_code == 200
    assert "we will call you by 5:00 PM ET tomorrow (Wednesday)" in words(page.text)
