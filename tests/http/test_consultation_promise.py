"""The confirmation's "by" time at fixed instants, driven through the app's clock.

The same words with htmx and without JavaScript, the same instant stored with the request, and
nothing here reads the machine's clock or zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import ET, make_settings
from tests.helpers import HX, copy_data, form, new_token, put_closure, rows, words
from webapp import closures
from webapp.app import create_app

CHRISTMAS = [
    closures.make_override("2026-12-24", "Christmas Eve", "10:00", "13:00"),
    closures.make_override("2026-12-25", "Christmas Day"),
]
SUMMER = [
    closures.make_override(date(2026, 7, 1) + timedelta(days=i), "Summer break") for i in range(12)
]

# (clinic-local instant the form is sent, closures, the promise shown, reply_by stored in UTC)
# Every day 9:00 AM - 5:00 PM, as data/clinic.toml has it.
TABLE = [
    ((2026, 12, 1, 10, 30), [], "by 5:00 PM ET today", "2026-12-01T22:00:00.000000Z"),
    ((2026, 12, 1, 16, 38), [], "by 5:00 PM ET tomorrow (Wednesday)",
     "2026-12-02T22:00:00.000000Z"),
    ((2026, 12, 1, 15, 59), [], "by 5:00 PM ET today", "2026-12-01T22:00:00.000000Z"),
    ((2026, 12, 1, 22, 30), [], "by 5:00 PM ET tomorrow (Wednesday)",
     "2026-12-02T22:00:00.000000Z"),
    ((2026, 12, 2, 6, 15), [], "by 5:00 PM ET today", "2026-12-02T22:00:00.000000Z"),
    # Christmas Eve closes at 1:00 PM, Christmas Day is closed.
    ((2026, 12, 24, 11, 0), CHRISTMAS, "by 1:00 PM ET today", "2026-12-24T18:00:00.000000Z"),
    ((2026, 12, 24, 12, 45), CHRISTMAS, "by Saturday, 5:00 PM ET", "2026-12-26T22:00:00.000000Z"),
    ((2026, 12, 23, 16, 38), CHRISTMAS, "by 1:00 PM ET tomorrow (Thursday)",
     "2026-12-24T18:00:00.000000Z"),
    # DST: spring forward (Sunday March 8) and fall back (Sunday November 1), 2026.
    ((2026, 3, 7, 22, 0), [], "by 5:00 PM ET tomorrow (Sunday)", "2026-03-08T21:00:00.000000Z"),
    ((2026, 3, 8, 16, 38), [], "by 5:00 PM ET tomorrow (Monday)",
     "2026-03-09T21:00:00.000000Z"),
    ((2026, 10, 31, 23, 0), [], "by 5:00 PM ET tomorrow (Sunday)",
     "2026-11-01T22:00:00.000000Z"),
    ((2026, 11, 1, 12, 0), [], "by 5:00 PM ET today", "2026-11-01T22:00:00.000000Z"),
    # A long holiday closure: the date is given.
    ((2026, 6, 30, 16, 38), SUMMER, "by Monday, July 13, 5:00 PM ET",
     "2026-07-13T21:00:00.000000Z"),
]  # fmt: skip


def rendered_before(client, clock, local) -> str:
    """A form rendered 5 s before `local` and sent at exactly that instant."""
    clock.set(datetime(*local, tzinfo=ET) - timedelta(seconds=5))
    return new_token(client, clock, wait=5)


def saved(client, entries, clock):
    for entry in entries:
        if entry.day >= clock().astimezone(client.app.ctx.clinic.schedule.tz).date():
            put_closure(client, entry)


@pytest.mark.parametrize(("local", "entries", "promise", "stored"), TABLE)
def test_the_promise_at_fixed_instants(client, clock, settings, local, entries, promise, stored):
    clock.set_local(*local)
    saved(client, entries, clock)
    response = client.post("/consultation", data=form(rendered_before(client, clock, local),
                           contact_method="text"), headers=HX)  # fmt: skip
    assert response.status_code == 200
    assert f"What happens next: we will text you {promise} to arrange" in words(response.text)
    no_js = client.post("/consultation", data=form(rendered_before(client, clock, local)))
    assert no_js.status_code == 200  # after the 303 to the thanks page
    assert f"we will call you {promise} to arrange" in words(no_js.text)
    assert [(r["reply_by"], r["suspected_spam"]) for r in rows(settings)] == [(stored, None)] * 2
    for text in (response.text, no_js.text):
        assert "today, during clinic hours" not in text


def test_the_thanks_page_read_later_gives_the_date(client, clock):
    clock.set_local(2026, 12, 1, 16, 38)
    response = client.post("/consultation", data=form(new_token(client, clock)),
                           follow_redirects=False)  # fmt: skip
    location = response.headers["location"]
    assert "by 5:00 PM ET tomorrow (Wednesday)" in words(client.get(location).text)
    clock.set_local(2026, 12, 2, 9, 0)  # the next morning, "tomorrow" is now "today"
    assert "by 5:00 PM ET today" in words(client.get(location).text)
    clock.set_local(2026, 12, 3, 9, 0)  # once past, the date itself
    assert "by Wednesday, December 2, 5:00 PM ET" in words(client.get(location).text)


def test_a_replay_states_the_first_promise(client, clock):
    clock.set_local(2026, 12, 1, 15, 30)
    token = new_token(client, clock, wait=3)
    first = client.post("/consultation", data=form(token), headers=HX)
    assert "by 5:00 PM ET today" in words(first.text)
    clock.set_local(2026, 12, 1, 16, 30)  # a double submit arriving late promises the same
    again = client.post("/consultation", data=form(token), headers=HX)
    assert "by 5:00 PM ET today" in words(again.text)


def weekdays_only(tmp_path: Path) -> Path:
    data = copy_data(tmp_path / "data")
    toml = data / "clinic.toml"
    text = toml.read_text()
    text = text.replace('saturday = ["09:00", "17:00"]', "saturday = []")
    text = text.replace('sunday = ["09:00", "17:00"]', "sunday = []")
    toml.write_text(text)
    return data


@pytest.mark.parametrize(
    ("local", "promise"),
    [
        ((2026, 12, 4, 16, 38), "by Monday, 5:00 PM ET"),  # a Friday afternoon
        ((2026, 12, 5, 11, 0), "by Monday, 5:00 PM ET"),  # Saturday
        ((2026, 12, 6, 21, 0), "by 5:00 PM ET tomorrow (Monday)"),  # Sunday evening
    ],
)
def test_a_weekend_with_weekday_hours(tmp_path, clock, local, promise):
    settings = make_settings(tmp_path, data_dir=weekdays_only(tmp_path))
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        response = client.post(
            "/consultation", data=form(rendered_before(client, clock, local)), headers=HX
        )
        assert f"we will call you {promise} to arrange" in words(response.text)


def test_a_sweep_of_a_whole_day_never_promises_today_without_an_hour_left(tmp_path, clock):
    """Every 7 minutes of a Tuesday, through the app: "today" exactly while an hour is left."""
    settings = make_settings(
        tmp_path, consultation_limit=(10_000, 600), consultation_flood=(10_000, 600)
    )
    with TestClient(create_app(settings, clock=clock), base_url="http://testserver") as client:
        for minute in range(0, 24 * 60, 7):
            local = (2026, 12, 1, minute // 60, minute % 60)
            response = client.post(
                "/consultation", data=form(rendered_before(client, clock, local)), headers=HX
            )
            text = words(response.text)
            hour_left = minute <= 16 * 60
            expected = "by 5:00 PM ET today" if hour_left else "by 5:00 PM ET tomorrow (Wednesday)"
            assert f"we will call you {expected} to arrange" in text, local
