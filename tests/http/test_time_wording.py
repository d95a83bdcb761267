"""One way of writing times on every page: "9:00 AM", "12:00 noon", "5:00 PM"."""

from __future__ import annotations

import re

from tests.helpers import HX, add_staff, form, login, new_token, put_closure, words
from webapp import closures

NOON_CLOSING = closures.make_override("2026-12-24", "Christmas Eve", "09:00", "12:00")


def test_banner_clinic_page_and_form_write_noon_alike(client, clock):
    clock.set_local(2026, 12, 24, 10, 30)
    put_closure(client, NOON_CLOSING)
    home = words(client.get("/").text)
    assert "closes at 12:00 noon ET today for Christmas Eve" in home
    assert "Morning (9:00 AM – 12:00 noon)" in home
    assert "Afternoon (12:00 noon – 5:00 PM)" in home
    clinic = words(client.get("/clinic").text)
    assert "Thursday, December 24, 2026 : open 9:00 AM – 12:00 noon (Christmas Eve)" in clinic
    assert "Every day, 9:00 AM – 5:00 PM" in clinic
    for page in (home, clinic):
        assert "12:00 PM" not in page
        # Noon is never written any other way ("12 PM", "noon" alone).
        assert not re.search(r"\b12 ?PM\b|\bnoon\b", page.replace("12:00 noon", ""))


def test_staff_hours_page_writes_noon_alike(client, clock):
    put_closure(client, NOON_CLOSING)
    add_staff(client)
    assert login(client).status_code == 303
    page = words(client.get("/staff/hours").text)
    assert "Thursday, December 24, 2026 : open 9:00 AM – 12:00 noon (Christmas Eve)" in page
    assert "12:00 PM" not in page


def test_the_confirmation_writes_noon_alike(client, clock):
    clock.set_local(2026, 12, 23, 16, 30)  # under an hour left; tomorrow closes at noon
    put_closure(client, NOON_CLOSING)
    response = client.post("/consultation", data=form(new_token(client, clock)), headers=HX)
    assert response.status_code == 200
    assert "by 12:00 noon ET tomorrow (Thursday)" in words(response.text)
