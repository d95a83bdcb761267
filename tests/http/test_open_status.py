"""The open-now banner: the fragment, its refresh timing, announcements and closures."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.helpers import put_closure, remove_closure
from webapp import closures


def banner(html: str) -> str:
    match = re.search(r'<div id="open-status".*?</div>', html, re.S)
    assert match, "banner missing"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0))).strip()


def trigger(html: str) -> str:
    return re.search(r'hx-trigger="([^"]+)"', html).group(1)


def test_fragment_is_not_cached_and_is_just_the_banner(client):
    response = client.get("/open-status")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.text.lstrip().startswith('<div id="open-status"')
    assert "<html" not in response.text
    assert 'hx-get="/open-status?was=open"' in response.text
    assert 'hx-swap="outerHTML"' in response.text


@pytest.mark.parametrize(
    ("local", "text", "state_class"),
    [
        ((2026, 12, 1, 8, 59, 59), "Closed · opens today at 9:00 AM ET", "closed"),
        ((2026, 12, 1, 9, 0, 0), "Open now · closes at 5:00 PM ET", "open"),
        ((2026, 12, 1, 16, 35, 0), "Closes in 25 min · closes at 5:00 PM ET", "closing-soon"),
        ((2026, 12, 1, 16, 59, 59), "Closes in 1 min · closes at 5:00 PM ET", "closing-soon"),
        ((2026, 12, 1, 17, 0, 0), "Closed · opens tomorrow at 9:00 AM ET", "closed"),
    ],
)
def test_banner_text_at_the_edges(client, clock, local, text, state_class):
    clock.set_local(*local)
    fragment = client.get("/open-status").text
    assert banner(fragment) == text
    assert f"open-status--{state_class}" in fragment
    # Every page shows the same banner at render time (right with JavaScript off).
    assert banner(client.get("/clinic").text) == text


def test_banner_is_right_whatever_the_server_zone(client, clock, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        clock.set_local(2026, 12, 1, 16, 59, 59)
        assert banner(client.get("/open-status").text).startswith("Closes in 1 min")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_refresh_is_scheduled_for_the_next_change(client, clock):
    clock.set_local(2026, 12, 1, 16, 59, 58)
    # The countdown text changes at 17:00:00, two seconds away (plus a small margin).
    assert trigger(client.get("/open-status").text) == "load delay:2150ms, every 60s"
    clock.set_local(2026, 12, 1, 8, 59, 30)
    assert trigger(client.get("/open-status").text) == "load delay:30150ms, every 60s"
    clock.set_local(2026, 12, 1, 11, 0, 0)
    assert trigger(client.get("/open-status").text) == "every 60s"


def test_announces_only_on_a_change_of_state(client, clock):
    clock.set_local(2026, 12, 1, 17, 0, 1)
    changed = client.get("/open-status?was=closing_soon").text
    assert 'id="open-status-announcer" data-hx-swap-oob="innerHTML"' in changed
    assert "Closed, opens tomorrow at 9:00 AM ET" in changed
    same = client.get("/open-status?was=closed").text
    assert "open-status-announcer" not in same
    # The first render and unknown values never announce.
    assert "open-status-announcer" not in client.get("/open-status").text
    assert "open-status-announcer" not in client.get("/open-status?was=<script>").text


def test_a_closure_shows_at_once(client, app, clock):
    clock.set_local(2026, 11, 26, 10, 0, 0)
    assert banner(client.get("/open-status").text).startswith("Open now")
    entry = closures.make_override("2026-11-26", "Thanksgiving")
    put_closure(client, entry)
    assert banner(client.get("/open-status").text) == (
        "Closed today for Thanksgiving · opens tomorrow at 9:00 AM ET"
    )
    clinic = client.get("/clinic").text
    assert "Thursday, November 26, 2026</time>: closed (Thanksgiving)" in clinic
    remove_closure(client, date(2026, 11, 26))
    assert banner(client.get("/open-status").text).startswith("Open now")


def test_special_hours_show_on_the_clinic_page(client, app, clock):
    entry = closures.make_override("2026-12-24", "Christmas Eve", "10:00", "14:00")
    put_closure(client, entry)
    html = client.get("/clinic").text
    assert "Thursday, December 24, 2026</time>: open 10:00 AM – 02:00 PM" not in html
    assert "open 10:00 AM – 2:00 PM (Christmas Eve)" in html
