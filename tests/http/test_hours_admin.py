"""/staff/hours as staff use it: "Saved", a range of days in one entry (one audited change),
removal with a confirmation step and an undo; the same range from the command line."""

from __future__ import annotations

import html
import re
import sqlite3
from contextlib import closing
from datetime import date, datetime, time
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ET, FakeClock
from tests.helpers import CSRF_FIELD, EMAIL, add_staff, audit, cli_environment, login, query
from webapp import closures
from webapp.cli import main
from webapp.hours import Override


@pytest.fixture
def staff_client(client):
    add_staff(client)
    assert login(client).status_code == 303
    return client


@pytest.fixture
def csrf(staff_client) -> str:
    return CSRF_FIELD.search(staff_client.get("/staff/hours").text).group(1)


def post(client, url, csrf, **fields):
    return client.post(url, data={"csrf": csrf, **fields}, follow_redirects=False)


def words(page: str) -> str:
    """The text as read: tags dropped (not turned into spaces), whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def days(client) -> list[tuple]:
    return [
        tuple(r)
        for r in query(client, "SELECT day, opens, closes, reason FROM closures ORDER BY day")
    ]


def test_a_range_of_days_is_one_entry_and_one_audited_change(staff_client, csrf):
    response = post(staff_client, "/staff/hours", csrf, day="2026-12-24", to="2026-12-26",
                    reason="Christmas", kind="closed")  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/hours?saved=2026-12-24#saved"
    assert days(staff_client) == [
        ("2026-12-24", None, None, "Christmas"),
        ("2026-12-25", None, None, "Christmas"),
        ("2026-12-26", None, None, "Christmas"),
    ]
    [entry] = audit(staff_client, "closure_add")
    assert entry["detail"] == "2026-12-24 to 2026-12-26 closed (Christmas)"
    assert entry["actor"] == EMAIL
    page = words(staff_client.get(response.headers["location"]).text)
    assert (
        "Saved: Thursday, December 24, 2026 – Saturday, December 26, 2026: closed (Christmas)."
        in page
    )
    # Listed as one line, with one "Remove" for the three days.
    assert page.count("Thursday, December 24, 2026 – Saturday, December 26, 2026") == 2
    listing = staff_client.get("/staff/hours").text
    assert 'href="/staff/hours/2026-12-24/remove?to=2026-12-26">Remove' in listing
    assert "Saved:" not in listing  # only right after saving
    for path in ("/open-status", "/clinic"):
        assert staff_client.get(path).status_code == 200
    assert "Christmas" in staff_client.get("/clinic").text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"day": "2026-12-26", "to": "2026-12-24"}, "The last day must be on or after the first."),
        ({"day": "2026-12-01", "to": "2027-03-01"}, "One entry covers at most 62 days"),
        ({"day": "2026-12-24", "to": "26 Dec"}, "is not a date in the form YYYY-MM-DD."),
        ({"day": "2026-11-30", "to": "2026-12-02"}, "That date has passed; check the year."),
    ],
)
def test_bad_ranges_are_refused_and_nothing_is_stored(staff_client, csrf, fields, message):
    response = post(staff_client, "/staff/hours", csrf, reason="Holiday", **fields)
    assert response.status_code == 422
    assert message in words(response.text)
    assert days(staff_client) == [] and audit(staff_client, "closure_add") == []
    assert f'value="{fields["to"]}"' in response.text  # what was typed stays


def test_special_hours_over_several_days(staff_client, csrf):
    post(staff_client, "/staff/hours", csrf, day="2026-12-28", to="2026-12-30",
         reason="Holiday week", kind="special", opens="10:00", closes="14:00")  # fmt: skip
    assert [d[1:3] for d in days(staff_client)] == [("10:00", "14:00")] * 3
    page = words(staff_client.get("/staff/hours").text)
    assert "Wednesday, December 30, 2026: open 10:00 AM – 2:00 PM (Holiday week)" in page


def test_removal_asks_first_then_offers_an_undo(staff_client, csrf, clock):
    post(staff_client, "/staff/hours", csrf, day="2026-12-24", to="2026-12-26", reason="Christmas")
    post(staff_client, "/staff/hours", csrf, day="2026-12-31", reason="New Year's Eve",
         kind="special", opens="09:00", closes="12:00")  # fmt: skip
    confirm = staff_client.get("/staff/hours/2026-12-24/remove?to=2026-12-26")
    assert confirm.status_code == 200
    text = words(confirm.text)
    assert "Remove this closure?" in text
    assert "Thursday, December 24, 2026 – Saturday, December 26, 2026: closed (Christmas)" in text
    assert 'name="to" value="2026-12-26"' in confirm.text and "Keep it" in text
    assert len(days(staff_client)) == 4  # asking removes nothing
    response = post(staff_client, "/staff/hours/2026-12-24/delete", csrf, to="2026-12-26")
    assert response.status_code == 303
    assert [d[0] for d in days(staff_client)] == ["2026-12-31"]
    [entry] = audit(staff_client, "closure_remove")
    assert entry["detail"] == "2026-12-24 to 2026-12-26"
    page = staff_client.get(response.headers["location"])
    text = words(page.text)
    assert "Removed: Thursday, December 24, 2026 – Saturday, December 26, 2026: closed" in text
    undo = re.search(r'name="undo" value="([^"]+)"', page.text).group(1)
    again = post(staff_client, "/staff/hours/undo", csrf, undo=undo)
    assert again.status_code == 303
    assert again.headers["location"] == "/staff/hours?saved=2026-12-24#saved"
    assert [d[0] for d in days(staff_client)] == [
        "2026-12-24", "2026-12-25", "2026-12-26", "2026-12-31"
    ]  # fmt: skip
    assert [r["detail"] for r in audit(staff_client, "closure_add")][-1] == (
        "2026-12-24 to 2026-12-26 closed (Christmas)"
    )


def test_an_undo_cannot_be_forged_or_made_for_the_past(staff_client, csrf, clock):
    post(staff_client, "/staff/hours", csrf, day="2026-12-02", reason="Training day")
    response = post(staff_client, "/staff/hours/2026-12-02/delete", csrf)
    token = parse_qs(urlsplit(response.headers["location"]).query)["removed"][0]
    assert post(staff_client, "/staff/hours/undo", csrf, undo=token[:-2] + "xx").status_code == 400
    assert post(staff_client, "/staff/hours/undo", csrf, undo="").status_code == 400
    # A forged "removed" in the address shows nothing.
    assert "Removed:" not in staff_client.get("/staff/hours?removed=abc.def").text
    clock.set(datetime(2026, 12, 3, 10, 0, tzinfo=ET))
    assert login(staff_client).status_code == 303
    token_page = post(staff_client, "/staff/hours/undo", CSRF_FIELD.search(
        staff_client.get("/staff/hours").text).group(1), undo=token)  # fmt: skip
    assert token_page.status_code == 422
    assert "That date has passed" in words(token_page.text)
    assert days(staff_client) == []


def test_a_confirmation_for_nothing_says_so(staff_client):
    page = staff_client.get("/staff/hours/2026-12-24/remove")
    assert page.status_code == 200
    assert "There is no closure or special hours on that day now." in words(page.text)
    for bad in ("/staff/hours/2026-13-01/remove", "/staff/hours/2026-12-24/remove?to=2026-12-01",
                "/staff/hours/2026-12-01/remove?to=2027-06-01"):  # fmt: skip
        assert staff_client.get(bad).status_code == 404


def test_stretches_group_consecutive_alike_days():
    def entry(day: int, reason: str = "Christmas", hours: tuple | None = None) -> Override:
        opens, closes = hours or (None, None)
        return Override(date(2026, 12, day), reason, opens, closes)

    short = (time(10), time(14))
    found = closures.stretches([
        entry(24), entry(25), entry(26), entry(28), entry(29, "Other"),
        entry(30, "Other", short), entry(31, "Other", short),
    ])  # fmt: skip
    assert [(s.first.day, s.last.day, s.reason, s.days) for s in found] == [
        (24, 26, "Christmas", 3), (28, 28, "Christmas", 1), (29, 29, "Other", 1),
        (30, 31, "Other", 2),
    ]  # fmt: skip
    assert closures.stretches([]) == []


# --- the command line ----------------------------------------------------------------------------


def test_closure_ranges_from_the_command_line(tmp_path, monkeypatch, capsys):
    path = cli_environment(tmp_path, monkeypatch)
    clock = FakeClock(datetime(2026, 12, 1, 10, 30, tzinfo=ET))
    argv = ["closure", "add", "2026-12-24", "--to", "2026-12-26", "--reason", "Christmas"]
    assert main(argv, clock=clock) == 0
    assert capsys.readouterr().out == "2026-12-24 to 2026-12-26: closed (Christmas)\n"
    with closing(sqlite3.connect(path)) as conn:
        assert [r[0] for r in conn.execute("SELECT day FROM closures ORDER BY day")] == [
            "2026-12-24", "2026-12-25", "2026-12-26"
        ]  # fmt: skip
        [detail] = conn.execute(
            "SELECT detail FROM audit_log WHERE action = 'closure_add'"
        ).fetchone()
    assert detail == "2026-12-24 to 2026-12-26 closed (Christmas)"
    argv = ["closure", "remove", "2026-12-25", "--to", "2026-12-26"]
    assert main(argv, clock=clock) == 0
    assert capsys.readouterr().out == "removed 2026-12-25, 2026-12-26\n"
    assert main(argv, clock=clock) == 1
    assert capsys.readouterr().out == "no closure on 2026-12-25 to 2026-12-26\n"
    bad = ["closure", "add", "2026-12-26", "--to", "2026-12-24", "--reason", "Backwards"]
    assert main(bad, clock=clock) == 2
    assert "the last day must be on or after the first" in capsys.readouterr().err
