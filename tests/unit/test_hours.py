"""Tests for webapp.hours: fixed tables for the wording, hypothesis for the invariants."""

import re
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from webapp.hours import (
    DAY_KEYS,
    HORIZON_DAYS,
    TZ_LABEL,
    Override,
    Schedule,
    Status,
    format_date,
    format_reply_by,
    format_time,
    next_opening,
    open_intervals,
    open_time_between,
    parse_time,
    parse_weekly,
    reply_by,
    status_at,
    with_overrides,
)

NY = ZoneInfo("America/New_York")
NINE_TO_FIVE = (time(9), time(17))
DAILY = Schedule(tz=NY, weekly=(NINE_TO_FIVE,) * 7)
WEEKDAYS_ONLY = Schedule(tz=NY, weekly=(NINE_TO_FIVE,) * 5 + (None, None))
NEVER = Schedule(tz=NY, weekly=(None,) * 7)
US = timedelta(microseconds=1)
MIN = timedelta(minutes=1)


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0, fold: int = 0):
    """A clinic wall time (fold=1 picks the second 1:xx AM of a fall-back day)."""
    return datetime(y, mo, d, h, mi, s, us, tzinfo=NY, fold=fold)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0):
    """A UTC instant, the form every datetime in a Status takes."""
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def closed_days(first: date, last: date, reason: str) -> list[Override]:
    """Whole-day closures from `first` to `last` inclusive."""
    return [Override(first + timedelta(days=i), reason) for i in range((last - first).days + 1)]


HOLIDAYS = with_overrides(
    DAILY,
    [
        Override(date(2026, 12, 24), "Christmas Eve", time(10), time(14)),
        Override(date(2026, 12, 25), "Christmas Day"),
        Override(date(2026, 12, 26), "Boxing Day"),
        Override(date(2027, 1, 1), "New Year's Day"),
    ],
)
SUMMER_BREAK = with_overrides(
    DAILY, closed_days(date(2026, 7, 1), date(2026, 7, 12), "Summer break")
)
# Closed Jan 1..Mar 1: the Mar 2 opening is exactly HORIZON_DAYS after Jan 1.
WINTER_60 = with_overrides(DAILY, closed_days(date(2026, 1, 1), date(2026, 3, 1), "Renovation"))
# One more closed day: from Jan 1 the next opening (Mar 3) is beyond the horizon.
WINTER_61 = with_overrides(DAILY, closed_days(date(2026, 1, 1), date(2026, 3, 2), "Renovation"))


def overnight(day: date, opens: time, closes: time) -> Schedule:
    """DAILY with special hours on one (DST) day."""
    return with_overrides(DAILY, [Override(day, "Overnight clinic", opens, closes)])


# (schedule, now, state, text, closes_at, opens_at, next_change, next_refresh)
# June 2026 is EDT (UTC-4); 2026-06-10 is a Wednesday.
STATUS_TABLE = [
    # An ordinary day.
    (DAILY, ny(2026, 6, 10, 8, 59, 59), "closed", "Closed · opens today at 9:00 AM ET",
     None, utc(2026, 6, 10, 13), utc(2026, 6, 10, 13), utc(2026, 6, 10, 13)),
    (DAILY, ny(2026, 6, 10, 9), "open", "Open now · closes at 5:00 PM ET",
     utc(2026, 6, 10, 21), None, utc(2026, 6, 10, 20), utc(2026, 6, 10, 20)),
    (DAILY, ny(2026, 6, 10, 15, 59, 59), "open", "Open now · closes at 5:00 PM ET",
     utc(2026, 6, 10, 21), None, utc(2026, 6, 10, 20), utc(2026, 6, 10, 20)),
    (DAILY, ny(2026, 6, 10, 16), "closing_soon", "Closes in 60 min · closes at 5:00 PM ET",
     utc(2026, 6, 10, 21), None, utc(2026, 6, 10, 21), utc(2026, 6, 10, 20, 1)),
    (DAILY, ny(2026, 6, 10, 16, 0, 0, 1), "closing_soon",
     "Closes in 60 min · closes at 5:00 PM ET",
     utc(2026, 6, 10, 21), None, utc(2026, 6, 10, 21), utc(2026, 6, 10, 20, 1)),
    (DAILY, ny(2026, 6, 10, 16, 35), "closing_soon", "Closes in 25 min · closes at 5:00 PM ET",
     utc(2026, 6, 10, 21), None, utc(2026, 6, 10, 21), utc(2026, 6, 10, 20, 36)),
    (DAILY, ny(2026, 6, 10, 16, 58, 59, 999999), "closing_soon",
     "Closes in 2 min · closes at 5:00 PM ET",
     utc(2026, 6, 10, 21), None, utc(2026, 6, 10, 21), utc(2026, 6, 10, 20, 59)),
    (DAILY, ny(2026, 6, 10, 16, 59), "closing_soon", "Closes in 1 min · closes at 5:00 PM ET",
     utc(2026, 6, 10, 21), None, utc(2026, 6, 10, 21), utc(2026, 6, 10, 21)),
    (DAILY, ny(2026, 6, 10, 16, 59, 59), "closing_soon", "Closes in 1 min · closes at 5:00 PM ET",
     utc(2026, 6, 10, 21), None, utc(2026, 6, 10, 21), utc(2026, 6, 10, 21)),
    (DAILY, ny(2026, 6, 10, 17), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 6, 11, 13), utc(2026, 6, 11, 4), utc(2026, 6, 11, 4)),
    (DAILY, ny(2026, 6, 10, 23, 59, 59), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 6, 11, 13), utc(2026, 6, 11, 4), utc(2026, 6, 11, 4)),
    (DAILY, ny(2026, 6, 11), "closed", "Closed · opens today at 9:00 AM ET",
     None, utc(2026, 6, 11, 13), utc(2026, 6, 11, 13), utc(2026, 6, 11, 13)),
    # Spring forward 2026-03-08 (02:00 EST -> 03:00 EDT): local midnight is still EST.
    (DAILY, ny(2026, 3, 7, 17), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 3, 8, 13), utc(2026, 3, 8, 5), utc(2026, 3, 8, 5)),
    (DAILY, ny(2026, 3, 8), "closed", "Closed · opens today at 9:00 AM ET",
     None, utc(2026, 3, 8, 13), utc(2026, 3, 8, 13), utc(2026, 3, 8, 13)),
    (DAILY, ny(2026, 3, 8, 16), "closing_soon", "Closes in 60 min · closes at 5:00 PM ET",
     utc(2026, 3, 8, 21), None, utc(2026, 3, 8, 21), utc(2026, 3, 8, 20, 1)),
    (DAILY, ny(2026, 3, 8, 17), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 3, 9, 13), utc(2026, 3, 9, 4), utc(2026, 3, 9, 4)),
    # Fall back 2026-11-01 (02:00 EDT -> 01:00 EST): both 1:30 AMs are before opening.
    (DAILY, ny(2026, 10, 31, 17), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 11, 1, 14), utc(2026, 11, 1, 4), utc(2026, 11, 1, 4)),
    (DAILY, ny(2026, 11, 1, 1, 30), "closed", "Closed · opens today at 9:00 AM ET",
     None, utc(2026, 11, 1, 14), utc(2026, 11, 1, 14), utc(2026, 11, 1, 14)),
    (DAILY, ny(2026, 11, 1, 1, 30, fold=1), "closed", "Closed · opens today at 9:00 AM ET",
     None, utc(2026, 11, 1, 14), utc(2026, 11, 1, 14), utc(2026, 11, 1, 14)),
    (DAILY, ny(2026, 11, 1, 16, 30), "closing_soon", "Closes in 30 min · closes at 5:00 PM ET",
     utc(2026, 11, 1, 22), None, utc(2026, 11, 1, 22), utc(2026, 11, 1, 21, 31)),
    (DAILY, ny(2026, 11, 1, 17), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 11, 2, 14), utc(2026, 11, 2, 5), utc(2026, 11, 2, 5)),
    # 2027: spring forward 2027-03-14, fall back 2027-11-07.
    (DAILY, ny(2027, 3, 13, 23), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2027, 3, 14, 13), utc(2027, 3, 14, 5), utc(2027, 3, 14, 5)),
    (DAILY, ny(2027, 3, 14, 12), "open", "Open now · closes at 5:00 PM ET",
     utc(2027, 3, 14, 21), None, utc(2027, 3, 14, 20), utc(2027, 3, 14, 20)),
    (DAILY, ny(2027, 11, 6, 20), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2027, 11, 7, 14), utc(2027, 11, 7, 4), utc(2027, 11, 7, 4)),
    (DAILY, ny(2027, 11, 7, 16, 59, 59), "closing_soon", "Closes in 1 min · closes at 5:00 PM ET",
     utc(2027, 11, 7, 22), None, utc(2027, 11, 7, 22), utc(2027, 11, 7, 22)),
    # Fall back, special hours 00:30 EDT (04:30Z) - 03:30 EST (08:30Z): 4 real hours.
    (overnight(date(2026, 11, 1), time(0, 30), time(3, 30)), ny(2026, 11, 1, 0, 45), "open",
     "Open now · closes at 3:30 AM ET today for Overnight clinic",
     utc(2026, 11, 1, 8, 30), None, utc(2026, 11, 1, 7, 30), utc(2026, 11, 1, 7, 30)),
    (overnight(date(2026, 11, 1), time(0, 30), time(3, 30)), ny(2026, 11, 1, 1, 30, fold=1),
     "open", "Open now · closes at 3:30 AM ET today for Overnight clinic",
     utc(2026, 11, 1, 8, 30), None, utc(2026, 11, 1, 7, 30), utc(2026, 11, 1, 7, 30)),
    (overnight(date(2026, 11, 1), time(0, 30), time(3, 30)), ny(2026, 11, 1, 2, 30),
     "closing_soon", "Closes in 60 min · closes at 3:30 AM ET today for Overnight clinic",
     utc(2026, 11, 1, 8, 30), None, utc(2026, 11, 1, 8, 30), utc(2026, 11, 1, 7, 31)),
    (overnight(date(2026, 11, 1), time(0, 30), time(3, 30)), ny(2026, 11, 1, 0, 29, 59),
     "closed", "Closed · opens today at 12:30 AM ET",
     None, utc(2026, 11, 1, 4, 30), utc(2026, 11, 1, 4, 30), utc(2026, 11, 1, 4, 30)),
    (overnight(date(2026, 11, 1), time(0, 30), time(3, 30)), ny(2026, 11, 1, 3, 30),
     "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 11, 2, 14), utc(2026, 11, 2, 5), utc(2026, 11, 2, 5)),
    # Spring forward, special hours 01:30 EST (06:30Z) - 03:30 EDT (07:30Z): 1 real hour,
    # so the countdown starts at once and runs straight through the missing hour.
    (overnight(date(2026, 3, 8), time(1, 30), time(3, 30)), ny(2026, 3, 8, 1, 30),
     "closing_soon", "Closes in 60 min · closes at 3:30 AM ET today for Overnight clinic",
     utc(2026, 3, 8, 7, 30), None, utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 6, 31)),
    (overnight(date(2026, 3, 8), time(1, 30), time(3, 30)), ny(2026, 3, 8, 1, 59, 59),
     "closing_soon", "Closes in 31 min · closes at 3:30 AM ET today for Overnight clinic",
     utc(2026, 3, 8, 7, 30), None, utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 7)),
    (overnight(date(2026, 3, 8), time(1, 30), time(3, 30)), ny(2026, 3, 8, 3),
     "closing_soon", "Closes in 30 min · closes at 3:30 AM ET today for Overnight clinic",
     utc(2026, 3, 8, 7, 30), None, utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 7, 1)),
    # Same two shapes in 2027.
    (overnight(date(2027, 11, 7), time(0, 30), time(3, 30)), ny(2027, 11, 7, 1, 30),
     "open", "Open now · closes at 3:30 AM ET today for Overnight clinic",
     utc(2027, 11, 7, 8, 30), None, utc(2027, 11, 7, 7, 30), utc(2027, 11, 7, 7, 30)),
    (overnight(date(2027, 3, 14), time(1, 30), time(3, 30)), utc(2027, 3, 14, 7, 15),
     "closing_soon", "Closes in 15 min · closes at 3:30 AM ET today for Overnight clinic",
     utc(2027, 3, 14, 7, 30), None, utc(2027, 3, 14, 7, 30), utc(2027, 3, 14, 7, 16)),
    # Christmas: special hours, then two closed days (Thu 24 .. Sat 26, reopening Sun 27).
    (HOLIDAYS, ny(2026, 12, 23, 17), "closed", "Closed · opens tomorrow at 10:00 AM ET",
     None, utc(2026, 12, 24, 15), utc(2026, 12, 24, 5), utc(2026, 12, 24, 5)),
    (HOLIDAYS, ny(2026, 12, 24, 9, 30), "closed", "Closed · opens today at 10:00 AM ET",
     None, utc(2026, 12, 24, 15), utc(2026, 12, 24, 15), utc(2026, 12, 24, 15)),
    (HOLIDAYS, ny(2026, 12, 24, 12), "open",
     "Open now · closes at 2:00 PM ET today for Christmas Eve",
     utc(2026, 12, 24, 19), None, utc(2026, 12, 24, 18), utc(2026, 12, 24, 18)),
    (HOLIDAYS, ny(2026, 12, 24, 13), "closing_soon",
     "Closes in 60 min · closes at 2:00 PM ET today for Christmas Eve",
     utc(2026, 12, 24, 19), None, utc(2026, 12, 24, 19), utc(2026, 12, 24, 18, 1)),
    (HOLIDAYS, ny(2026, 12, 24, 14), "closed", "Closed · opens Sunday at 9:00 AM ET",
     None, utc(2026, 12, 27, 14), utc(2026, 12, 25, 5), utc(2026, 12, 25, 5)),
    (HOLIDAYS, ny(2026, 12, 25, 8), "closed",
     "Closed today for Christmas Day · opens Sunday at 9:00 AM ET",
     None, utc(2026, 12, 27, 14), utc(2026, 12, 26, 5), utc(2026, 12, 26, 5)),
    (HOLIDAYS, ny(2026, 12, 26, 12), "closed",
     "Closed today for Boxing Day · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 12, 27, 14), utc(2026, 12, 27, 5), utc(2026, 12, 27, 5)),
    # New Year: Thu Dec 31 evening -> Fri Jan 1 closed -> open again Saturday (= tomorrow).
    (HOLIDAYS, ny(2026, 12, 31, 17), "closed", "Closed · opens Saturday at 9:00 AM ET",
     None, utc(2027, 1, 2, 14), utc(2027, 1, 1, 5), utc(2027, 1, 1, 5)),
    (HOLIDAYS, ny(2027, 1, 1), "closed",
     "Closed today for New Year's Day · opens tomorrow at 9:00 AM ET",
     None, utc(2027, 1, 2, 14), utc(2027, 1, 2, 5), utc(2027, 1, 2, 5)),
    (HOLIDAYS, ny(2027, 1, 1, 12), "closed",
     "Closed today for New Year's Day · opens tomorrow at 9:00 AM ET",
     None, utc(2027, 1, 2, 14), utc(2027, 1, 2, 5), utc(2027, 1, 2, 5)),
    # A 12-day closure: a date 7+ days ahead, weekday names 2..6 days ahead.
    (SUMMER_BREAK, ny(2026, 6, 30, 17), "closed",
     "Closed · opens Monday, July 13 at 9:00 AM ET",
     None, utc(2026, 7, 13, 13), utc(2026, 7, 1, 4), utc(2026, 7, 1, 4)),
    (SUMMER_BREAK, ny(2026, 7, 6, 10), "closed",
     "Closed today for Summer break · opens Monday, July 13 at 9:00 AM ET",
     None, utc(2026, 7, 13, 13), utc(2026, 7, 7, 4), utc(2026, 7, 7, 4)),
    (SUMMER_BREAK, ny(2026, 7, 7, 10), "closed",
     "Closed today for Summer break · opens Monday at 9:00 AM ET",
     None, utc(2026, 7, 13, 13), utc(2026, 7, 8, 4), utc(2026, 7, 8, 4)),
    (SUMMER_BREAK, ny(2026, 7, 11, 23), "closed",
     "Closed today for Summer break · opens Monday at 9:00 AM ET",
     None, utc(2026, 7, 13, 13), utc(2026, 7, 12, 4), utc(2026, 7, 12, 4)),
    (SUMMER_BREAK, ny(2026, 7, 12, 10), "closed",
     "Closed today for Summer break · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 7, 13, 13), utc(2026, 7, 13, 4), utc(2026, 7, 13, 4)),
    # The horizon: an opening exactly 60 local days ahead counts, 61 does not.
    (WINTER_60, ny(2026, 1, 1, 12), "closed",
     "Closed today for Renovation · opens Monday, March 2 at 9:00 AM ET",
     None, utc(2026, 3, 2, 14), utc(2026, 1, 2, 5), utc(2026, 1, 2, 5)),
    (WINTER_61, ny(2026, 1, 1, 12), "closed",
     "Closed today for Renovation · opening hours to be announced",
     None, None, utc(2026, 1, 2, 5), utc(2026, 1, 2, 5)),
    (WINTER_61, ny(2026, 1, 2), "closed",
     "Closed today for Renovation · opens Tuesday, March 3 at 9:00 AM ET",
     None, utc(2026, 3, 3, 14), utc(2026, 1, 3, 5), utc(2026, 1, 3, 5)),
    (NEVER, ny(2026, 6, 10, 12), "closed", "Closed · opening hours to be announced",
     None, None, utc(2026, 6, 11, 4), utc(2026, 6, 11, 4)),
    # Closed weekends (2026-06-12 is a Friday).
    (WEEKDAYS_ONLY, ny(2026, 6, 12, 12), "open", "Open now · closes at 5:00 PM ET",
     utc(2026, 6, 12, 21), None, utc(2026, 6, 12, 20), utc(2026, 6, 12, 20)),
    (WEEKDAYS_ONLY, ny(2026, 6, 12, 17), "closed", "Closed · opens Monday at 9:00 AM ET",
     None, utc(2026, 6, 15, 13), utc(2026, 6, 13, 4), utc(2026, 6, 13, 4)),
    (WEEKDAYS_ONLY, ny(2026, 6, 13, 12), "closed", "Closed · opens Monday at 9:00 AM ET",
     None, utc(2026, 6, 15, 13), utc(2026, 6, 14, 4), utc(2026, 6, 14, 4)),
    (WEEKDAYS_ONLY, ny(2026, 6, 14, 12), "closed", "Closed · opens tomorrow at 9:00 AM ET",
     None, utc(2026, 6, 15, 13), utc(2026, 6, 15, 4), utc(2026, 6, 15, 4)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("schedule", "now", "state", "text", "closes_at", "opens_at", "change", "refresh"),
    STATUS_TABLE,
)
def test_status_table(schedule, now, state, text, closes_at, opens_at, change, refresh):
    s = status_at(now, schedule)
    assert (s.state, s.text) == (state, text)
    assert (s.closes_at, s.opens_at) == (closes_at, opens_at)
    assert (s.next_change, s.next_refresh) == (change, refresh)
    for instant in (s.closes_at, s.opens_at, s.next_change, s.next_refresh):
        assert instant is None or instant.utcoffset() == timedelta(0)


def test_fall_back_countdown_is_real_elapsed_time():
    schedule = overnight(date(2026, 11, 1), time(0, 30), time(3, 30))
    assert open_intervals(schedule, date(2026, 11, 1)) == (
        utc(2026, 11, 1, 4, 30),
        utc(2026, 11, 1, 8, 30),
    )
    first, second = ny(2026, 11, 1, 1, 30), ny(2026, 11, 1, 1, 30, fold=1)
    early = ny(2026, 11, 1, 0, 45)  # EDT
    assert status_at(early, schedule).closes_at - early == timedelta(hours=3, minutes=45)
    # The same wall time twice, an hour apart in reality.
    assert status_at(first, schedule).closes_at - first == timedelta(hours=3)
    assert status_at(second, schedule).closes_at - second == timedelta(hours=2)


def test_spring_forward_special_hours_last_one_real_hour():
    schedule = overnight(date(2026, 3, 8), time(1, 30), time(3, 30))
    opens, closes = open_intervals(schedule, date(2026, 3, 8))
    assert closes - opens == timedelta(hours=1)
    assert status_at(opens - US, schedule).state == "closed"
    assert status_at(closes - US, schedule).headline == "Closes in 1 min"


def test_hours_inside_the_spring_forward_gap():
    # 02:00-03:00 does not exist on 2026-03-08; 02:30 reads as EST, i.e. 03:30 EDT.
    day = date(2026, 3, 8)
    empty = with_overrides(DAILY, [Override(day, "Gap", time(2, 30), time(3))])
    assert open_intervals(empty, day) is None
    assert status_at(ny(2026, 3, 8, 1), empty).text == "Closed · opens tomorrow at 9:00 AM ET"
    shifted = with_overrides(DAILY, [Override(day, "Gap", time(2, 30), time(4))])
    assert open_intervals(shifted, day) == (utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8))
    assert status_at(utc(2026, 3, 8, 7), shifted).text == "Closed · opens today at 3:30 AM ET"


STATUS_FIELDS_SAMPLE = [ny(2026, 6, 10, 8), ny(2026, 6, 10, 12), ny(2026, 6, 10, 16, 35),
                        ny(2026, 11, 1, 1, 30, fold=1), ny(2027, 1, 1, 12)]  # fmt: skip


@pytest.mark.parametrize("now", STATUS_FIELDS_SAMPLE)
@pytest.mark.parametrize(
    "zone",
    [UTC, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Los_Angeles"),
     timezone(timedelta(hours=5, minutes=45))],
)  # fmt: skip
def test_now_in_any_zone_gives_the_same_answer(now, zone):
    elsewhere = now.astimezone(zone)
    assert elsewhere.tzinfo is zone
    assert status_at(elsewhere, HOLIDAYS) == status_at(now, HOLIDAYS)
    assert next_opening(elsewhere, HOLIDAYS) == next_opening(now, HOLIDAYS)


@pytest.mark.parametrize("func", [status_at, next_opening])
def test_naive_now_is_rejected(func):
    with pytest.raises(ValueError, match="timezone-aware"):
        func(datetime(2026, 6, 10, 12), DAILY)


ANNOUNCEMENTS = [
    (ny(2026, 6, 10, 12), "Open now, closes at 5:00 PM ET"),
    (ny(2026, 6, 10, 16, 35), "Closing soon, closes at 5:00 PM ET"),
    (ny(2026, 6, 10, 16, 59, 59), "Closing soon, closes at 5:00 PM ET"),
    (ny(2026, 6, 10, 17), "Closed, opens tomorrow at 9:00 AM ET"),
    (ny(2026, 12, 24, 13, 30), "Closing soon, closes at 2:00 PM ET today for Christmas Eve"),
    (ny(2027, 1, 1, 12), "Closed today for New Year's Day, opens tomorrow at 9:00 AM ET"),
]


@pytest.mark.parametrize(("now", "announcement"), ANNOUNCEMENTS)
def test_announcement_has_no_countdown(now, announcement):
    assert status_at(now, HOLIDAYS).announcement == announcement


def test_reason_is_todays_override_whatever_the_state():
    assert status_at(ny(2026, 12, 24, 9), HOLIDAYS).reason == "Christmas Eve"
    assert status_at(ny(2026, 12, 24, 12), HOLIDAYS).reason == "Christmas Eve"
    after_hours = status_at(ny(2026, 12, 24, 15), HOLIDAYS)
    assert (after_hours.headline, after_hours.reason) == ("Closed", "Christmas Eve")
    assert status_at(ny(2026, 12, 25, 15), HOLIDAYS).reason == "Christmas Day"
    assert status_at(ny(2026, 12, 23, 15), HOLIDAYS).reason is None


def test_status_text_joins_with_a_middle_dot():
    s = status_at(ny(2026, 6, 10, 12), DAILY)
    assert s.text == "Open now \u00b7 closes at 5:00 PM ET"
    assert isinstance(s, Status)
    with pytest.raises(FrozenInstanceError):
        s.state = "closed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        (DAILY, ny(2026, 6, 10, 12, 0, 0, 7), utc(2026, 6, 10, 16, 0, 0, 7)),
        (DAILY, ny(2026, 6, 10, 9), utc(2026, 6, 10, 13)),
        (DAILY, ny(2026, 6, 10, 17), utc(2026, 6, 11, 13)),
        (HOLIDAYS, ny(2026, 12, 24, 14), utc(2026, 12, 27, 14)),
        (WINTER_60, ny(2026, 1, 1, 12), utc(2026, 3, 2, 14)),
        (WINTER_61, ny(2026, 1, 1, 12), None),
        (NEVER, ny(2026, 6, 10, 12), None),
    ],
)
def test_next_opening(schedule, now, expected):
    result = next_opening(now.astimezone(ZoneInfo("Asia/Tokyo")), schedule)
    assert result == expected
    assert result is None or result.tzinfo is UTC


def test_open_intervals_override_wins_over_weekly():
    assert open_intervals(DAILY, date(2026, 6, 10)) == (utc(2026, 6, 10, 13), utc(2026, 6, 10, 21))
    assert open_intervals(DAILY, date(2026, 1, 14)) == (utc(2026, 1, 14, 14), utc(2026, 1, 14, 22))
    assert open_intervals(WEEKDAYS_ONLY, date(2026, 6, 13)) is None
    assert open_intervals(HOLIDAYS, date(2026, 12, 25)) is None
    assert open_intervals(HOLIDAYS, date(2026, 12, 24)) == (
        utc(2026, 12, 24, 15),
        utc(2026, 12, 24, 19),
    )
    # An override can open a weekday that is normally closed.
    saturday = with_overrides(
        WEEKDAYS_ONLY, [Override(date(2026, 6, 13), "Open house", time(10), time(12))]
    )
    assert open_intervals(saturday, date(2026, 6, 13)) == (
        utc(2026, 6, 13, 14),
        utc(2026, 6, 13, 16),
    )


def test_duplicate_overrides_later_one_wins():
    day = date(2026, 6, 10)
    first = Override(day, "Staff training")
    second = Override(day, "Short day", time(9), time(12))
    assert open_intervals(with_overrides(DAILY, [first, second]), day) == (
        utc(2026, 6, 10, 13),
        utc(2026, 6, 10, 16),
    )
    assert open_intervals(with_overrides(DAILY, [second, first]), day) is None


def test_with_overrides_replaces_and_leaves_the_original_alone():
    christmas = Override(date(2026, 12, 25), "Christmas Day")
    one = with_overrides(DAILY, [christmas])
    assert one.overrides == (christmas,)
    assert DAILY.overrides == ()
    assert open_intervals(DAILY, date(2026, 12, 25)) is not None
    assert with_overrides(one, []).overrides == ()
    assert open_intervals(with_overrides(one, []), date(2026, 12, 25)) is not None
    assert one == with_overrides(DAILY, (christmas,))
    assert hash(one) == hash(with_overrides(DAILY, (christmas,)))
    assert "_by_day" not in repr(one)


def test_schedule_and_override_validation():
    with pytest.raises(ValueError, match="7 entries"):
        Schedule(tz=NY, weekly=(NINE_TO_FIVE,) * 6)
    with pytest.raises(ValueError, match="tuesday"):
        Schedule(tz=NY, weekly=(NINE_TO_FIVE, (time(17), time(9))) + (NINE_TO_FIVE,) * 5)
    with pytest.raises(ValueError, match="both"):
        Override(date(2026, 1, 1), "Half", opens=time(9))
    with pytest.raises(ValueError, match="before"):
        Override(date(2026, 1, 1), "Backwards", time(12), time(12))
    with pytest.raises(TypeError, match="datetime"):
        Override(datetime(2026, 1, 1), "Not a date")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("00:00", time(0)), ("09:00", time(9)), ("12:30", time(12, 30)), ("23:59", time(23, 59))],
)
def test_parse_time_accepts_hh_mm(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["9:00", "09:0", "0900", "09:00:00", "24:00", "09:60", "99:99", " 09:00", "09:00 ", "09.00",
     "-1:00", "+9:00", "9am", "", "\u0660\u0669:\u0660\u0660", "09:\u00bd0", None, 900],
)  # fmt: skip
def test_parse_time_rejects(text):
    with pytest.raises(ValueError, match="^time "):
        parse_time(text)


@pytest.mark.parametrize(
    ("t", "expected"),
    [(time(0), "12:00 midnight"), (time(0, 5), "12:05 AM"), (time(9), "9:00 AM"),
     (time(11, 59), "11:59 AM"), (time(12), "12:00 noon"), (time(12, 1), "12:01 PM"),
     (time(12, 30), "12:30 PM"),
     (time(13, 5), "1:05 PM"), (time(17), "5:00 PM"), (time(23, 59), "11:59 PM")],
)  # fmt: skip
def test_format_time(t, expected):
    assert format_time(t) == expected


def week(**changes):
    """Every day 09:00-17:00, with some days changed."""
    mapping = {day: ["09:00", "17:00"] for day in DAY_KEYS}
    mapping.update(changes)
    return mapping


def test_parse_weekly_builds_the_schedule():
    assert parse_weekly(week(), "America/New_York") == DAILY
    parsed = parse_weekly(week(saturday=None, sunday=[]), "America/New_York")
    assert parsed == WEEKDAYS_ONLY
    assert parsed.tz is NY
    shifted = parse_weekly(week(monday=["08:30", "12:15"]), "Europe/London")
    assert shifted.weekly[0] == (time(8, 30), time(12, 15))
    assert open_intervals(shifted, date(2026, 6, 8)) == (
        utc(2026, 6, 8, 7, 30),
        utc(2026, 6, 8, 11, 15),
    )


@pytest.mark.parametrize(
    ("mapping", "tz_name", "message"),
    [
        (week(), "Mars/Olympus", "unknown time zone"),
        (week(), "America", "unknown time zone"),
        (week(), "../etc/passwd", "unknown time zone"),
        (week(), "", "time zone"),
        (week(), None, "time zone"),
        (week(monday=["9:00", "17:00"]), "America/New_York", "monday"),
        (week(tuesday=["09:00", "25:00"]), "America/New_York", "tuesday"),
        (week(wednesday=["17:00", "09:00"]), "America/New_York", "wednesday.*before"),
        (week(thursday=["09:00", "09:00"]), "America/New_York", "thursday.*before"),
        (week(friday=["09:00"]), "America/New_York", "friday"),
        (week(friday=["09:00", "12:00", "17:00"]), "America/New_York", "friday"),
        (week(saturday="09:00-17:00"), "America/New_York", "saturday"),
        (week(sunday=[9, 17]), "America/New_York", "sunday"),
        (week(sunday=False), "America/New_York", "sunday"),
        ({k: v for k, v in week().items() if k != "sunday"}, "America/New_York", "missing.*sunday"),
        ({**week(), "funday": None}, "America/New_York", "unknown day.*funday"),
        ({**week(), "Monday": None}, "America/New_York", "unknown day.*Monday"),
        ([["09:00", "17:00"]] * 7, "America/New_York", "dict"),
    ],
)
def test_parse_weekly_rejects(mapping, tz_name, message):
    with pytest.raises(ValueError, match=message) as excinfo:
        parse_weekly(mapping, tz_name)
    assert "\n" not in str(excinfo.value)


def test_tz_label_constant_is_what_the_text_uses():
    assert TZ_LABEL == "ET"
    assert status_at(ny(2026, 1, 14, 12), DAILY).detail.endswith(f"5:00 PM {TZ_LABEL}")


# ---- Property tests -------------------------------------------------------------------------
# A deliberately naive reference model (linear scans, no caching) the module must agree with.

ZONES = [NY, NY, NY, ZoneInfo("Europe/London"), ZoneInfo("Australia/Lord_Howe")]
DST_DAYS = [date(2026, 3, 8), date(2026, 11, 1), date(2027, 3, 14), date(2027, 11, 7),
            date(2028, 3, 12), date(2028, 11, 5)]  # fmt: skip
OTHER_ZONES = [
    UTC,
    ZoneInfo("Asia/Tokyo"),
    ZoneInfo("Pacific/Kiritimati"),
    ZoneInfo("America/Adak"),
]
OPEN = ("open", "closing_soon")
WEEKDAY = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
         "October", "November", "December")  # fmt: skip


def _clock_time(minute: int) -> time:
    return time(minute // 60, minute % 60)


# Minute-resolution hours with opens < closes, so consecutive intervals never touch.
hours_st = st.integers(0, 24 * 60 - 2).flatmap(
    lambda a: st.integers(a + 1, 24 * 60 - 1).map(lambda b: (_clock_time(a), _clock_time(b)))
)


def ref_interval(schedule: Schedule, day: date):
    """The model: last matching override, else the weekday; wall times read with fold=0."""
    hours = schedule.weekly[day.weekday()]
    for o in schedule.overrides:
        if o.day == day:
            hours = None if o.opens is None else (o.opens, o.closes)
    if hours is None:
        return None
    opens = datetime.combine(day, hours[0], tzinfo=schedule.tz).astimezone(UTC)
    closes = datetime.combine(day, hours[1], tzinfo=schedule.tz).astimezone(UTC)
    return (opens, closes) if opens < closes else None


def local_day(instant: datetime, schedule: Schedule) -> date:
    return instant.astimezone(schedule.tz).date()


def ref_intervals(schedule: Schedule, first: date, last: date):
    days = ((first + timedelta(days=i)) for i in range((last - first).days + 1))
    return [iv for iv in map(lambda d: ref_interval(schedule, d), days) if iv is not None]


def ref_is_open(schedule: Schedule, instant: datetime) -> bool:
    today = local_day(instant, schedule)
    spans = ref_intervals(schedule, today - timedelta(days=1), today + timedelta(days=1))
    return any(o <= instant < c for o, c in spans)


def ref_midnight(schedule: Schedule, instant: datetime) -> datetime:
    tomorrow = local_day(instant, schedule) + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=schedule.tz).astimezone(UTC)


@st.composite
def scenarios(draw, inside: bool = False):
    """A schedule with a few overrides near an instant, the instant often on a boundary.

    With inside=True the instant is drawn from an open interval (often its last hour).
    """
    tz = draw(st.sampled_from(ZONES))
    if draw(st.integers(0, 5)) == 0:
        weekly = (None,) * 7  # only overrides can open it: exercises the horizon
    else:
        weekly = draw(st.tuples(*[st.one_of(st.none(), hours_st, hours_st, hours_st)] * 7))
    base = draw(
        st.one_of(
            st.datetimes(datetime(2026, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
            st.builds(
                lambda d, m: datetime.combine(d, time(0), tzinfo=NY).astimezone(UTC) + m * MIN,
                st.sampled_from(DST_DAYS),
                st.integers(0, 24 * 60),
            ),
        )
    )
    today = local_day(base, Schedule(tz=tz, weekly=weekly))
    offsets = st.one_of(st.integers(-2, 14), st.sampled_from([58, 59, 60, 61, 62]))
    overrides = draw(
        st.lists(
            st.builds(
                lambda off, hours, reason: Override(
                    today + timedelta(days=off), reason, *(hours or (None, None))
                ),
                offsets,
                st.one_of(st.none(), hours_st),
                st.sampled_from(["Thanksgiving", "Staff training", "Snow"]),
            ),
            max_size=5,
        )
    )
    schedule = Schedule(tz=tz, weekly=weekly, overrides=tuple(overrides))
    spans = ref_intervals(schedule, today - timedelta(days=1), today + timedelta(days=3))
    now = base
    if inside:
        assume(spans)
        opens, closes = draw(st.sampled_from(spans))
        length = (closes - opens) // US
        now = draw(
            st.one_of(
                st.integers(0, length - 1).map(lambda k: opens + k * US),
                st.integers(1, min(length, 3600 * 10**6)).map(lambda k: closes - k * US),
            )
        )
    elif spans and draw(st.booleans()):
        # Move onto an interval edge, where off-by-one mistakes live.
        edge = draw(st.sampled_from([e for span in spans for e in span]))
        nudge = draw(st.sampled_from([-US, timedelta(0), US, -MIN, -60 * MIN, -60 * MIN + US]))
        now = edge + nudge
    return schedule, now


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(scenarios())
def test_open_exactly_inside_an_interval(scenario):
    schedule, now = scenario
    s = status_at(now, schedule)
    assert (s.state in OPEN) == ref_is_open(schedule, now)
    today = local_day(now, schedule)
    if s.state in OPEN:
        assert s.opens_at is None
        assert s.closes_at in {
            c for o, c in ref_intervals(schedule, today - timedelta(1), today) if o <= now
        }
    else:
        assert s.closes_at is None


@PROPERTY
@given(scenarios())
def test_opens_at_is_the_first_open_instant(scenario):
    schedule, now = scenario
    s = status_at(now, schedule)
    if s.state in OPEN:
        assert next_opening(now, schedule) == now
        return
    assert s.opens_at == next_opening(now, schedule)
    today = local_day(now, schedule)
    horizon_end = today + timedelta(days=HORIZON_DAYS)
    if s.opens_at is None:
        spans = ref_intervals(schedule, today - timedelta(days=1), horizon_end)
        assert not [c for _, c in spans if c > now]
        assert s.detail == "opening hours to be announced"
        return
    assert s.opens_at > now
    assert local_day(s.opens_at, schedule) <= horizon_end
    assert status_at(s.opens_at, schedule).state in OPEN
    assert status_at(s.opens_at - US, schedule).state == "closed"
    # Nothing is open anywhere in [now, opens_at).
    spans = ref_intervals(schedule, today - timedelta(days=1), local_day(s.opens_at, schedule))
    assert not [(o, c) for o, c in spans if o < s.opens_at and c > now]


@PROPERTY
@given(scenarios(inside=True))
def test_closing_and_countdown(scenario):
    schedule, now = scenario
    s = status_at(now, schedule)
    assert s.state in OPEN
    remaining = s.closes_at - now
    assert remaining > timedelta(0)
    assert status_at(s.closes_at, schedule).state == "closed"
    assert status_at(s.closes_at - US, schedule).state == "closing_soon"
    assert (s.state == "closing_soon") == (remaining <= timedelta(minutes=60))
    if s.state == "open":
        assert s.headline == "Open now"
        assert s.next_change == min(
            s.closes_at - timedelta(minutes=60), ref_midnight(schedule, now)
        )
    else:
        micros = remaining // US
        minutes = micros // 60_000_000 + (micros % 60_000_000 > 0)
        assert 1 <= minutes <= 60
        assert s.headline == f"Closes in {minutes} min"
    assert s.detail.startswith(
        f"closes at {format_time(s.closes_at.astimezone(schedule.tz).time())} ET"
    )


@PROPERTY
@given(scenarios())
def test_nothing_changes_before_next_change_or_next_refresh(scenario):
    schedule, now = scenario
    s = status_at(now, schedule)
    midnight = ref_midnight(schedule, now)
    assert now < s.next_refresh <= s.next_change <= midnight
    just_before = status_at(s.next_change - US, schedule)
    assert (just_before.state, just_before.announcement) == (s.state, s.announcement)
    before_refresh = status_at(s.next_refresh - US, schedule)
    assert (before_refresh.headline, before_refresh.detail) == (s.headline, s.detail)
    if s.next_change < midnight:
        # Not a mere day rollover: the state really flips there.
        assert status_at(s.next_change, schedule).state != s.state
    if s.next_refresh < s.next_change:
        assert s.state == "closing_soon"
        assert status_at(s.next_refresh, schedule).headline != s.headline
    else:
        assert s.next_refresh == s.next_change


@PROPERTY
@given(scenarios(), st.sampled_from(OTHER_ZONES))
def test_answers_do_not_depend_on_the_zone_of_now(scenario, zone):
    schedule, now = scenario
    assert status_at(now.astimezone(zone), schedule) == status_at(now, schedule)


@PROPERTY
@given(scenarios())
def test_day_wording_matches_opens_at(scenario):
    schedule, now = scenario
    s = status_at(now, schedule)
    today = local_day(now, schedule)
    override = [o for o in schedule.overrides if o.day == today]
    assert s.reason == (override[-1].reason if override else None)
    if s.state in OPEN:
        return
    if override and override[-1].opens is None:
        assert s.headline == f"Closed today for {override[-1].reason}"
    else:
        assert s.headline == "Closed"
    if s.opens_at is None:
        return
    local = s.opens_at.astimezone(schedule.tz)
    ahead = (local.date() - today).days
    name = WEEKDAY[local.weekday()]
    when = {0: "today", 1: "tomorrow"}.get(
        ahead, name if ahead < 7 else f"{name}, {MONTH[local.month - 1]} {local.day}"
    )
    clock = f"{format_time(local.time())} ET"
    assert s.detail == f"opens {when} at {clock}"
    assert s.text == f"{s.headline} · {s.detail}"


# ---- The reply promise ----------------------------------------------------------------------

HOUR = timedelta(hours=1)
# Christmas Eve 2026 (a Thursday) closes at 1:00 PM, Christmas Day is closed.
CHRISTMAS = with_overrides(
    DAILY,
    [
        Override(date(2026, 12, 24), "Christmas Eve", time(10), time(13)),
        Override(date(2026, 12, 25), "Christmas Day"),
    ],
)
CHRISTMAS_WEEKDAYS = with_overrides(WEEKDAYS_ONLY, CHRISTMAS.overrides)
SHORT_MORNING = with_overrides(
    DAILY, [Override(date(2026, 6, 11), "Staff training", time(9), time(9, 45))]
)
NOON_CLOSE = with_overrides(DAILY, [Override(date(2026, 6, 11), "Half day", time(9), time(12))])
# Special hours across the DST changes: 00:30-02:00 on the fall-back day lasts 2.5 real hours,
# 01:30-03:30 on the spring-forward day lasts one.
FALL_BACK_NIGHT = overnight(date(2026, 11, 1), time(0, 30), time(2))
SPRING_FORWARD_NIGHT = overnight(date(2026, 3, 8), time(1, 30), time(3, 30))

# (schedule, sent at, promised by (UTC) or None, the words shown on screen)
REPLY_BY_TABLE = [
    # An ordinary day (Tuesday 2026-12-01, EST).
    (DAILY, ny(2026, 12, 1, 10, 30), utc(2026, 12, 1, 22), "by 5:00 PM ET today"),
    (DAILY, ny(2026, 12, 1, 7), utc(2026, 12, 1, 22), "by 5:00 PM ET today"),
    (DAILY, ny(2026, 12, 1, 16), utc(2026, 12, 1, 22), "by 5:00 PM ET today"),
    (DAILY, ny(2026, 12, 1, 16, 0, 0, 1), utc(2026, 12, 2, 22),
     "by 5:00 PM ET tomorrow (Wednesday)"),
    (DAILY, ny(2026, 12, 1, 16, 38), utc(2026, 12, 2, 22), "by 5:00 PM ET tomorrow (Wednesday)"),
    (DAILY, ny(2026, 12, 1, 17), utc(2026, 12, 2, 22), "by 5:00 PM ET tomorrow (Wednesday)"),
    (DAILY, ny(2026, 12, 1, 22, 45), utc(2026, 12, 2, 22), "by 5:00 PM ET tomorrow (Wednesday)"),
    (DAILY, ny(2026, 12, 1, 23, 59, 59), utc(2026, 12, 2, 22),
     "by 5:00 PM ET tomorrow (Wednesday)"),
    (DAILY, ny(2026, 12, 2, 0, 0, 1), utc(2026, 12, 2, 22), "by 5:00 PM ET today"),
    # Weekends (2026-06-12 is a Friday).
    (WEEKDAYS_ONLY, ny(2026, 6, 12, 16, 30), utc(2026, 6, 15, 21), "by Monday, 5:00 PM ET"),
    (WEEKDAYS_ONLY, ny(2026, 6, 13, 12), utc(2026, 6, 15, 21), "by Monday, 5:00 PM ET"),
    (WEEKDAYS_ONLY, ny(2026, 6, 14, 20), utc(2026, 6, 15, 21),
     "by 5:00 PM ET tomorrow (Monday)"),
    # Christmas Eve: special hours to 1:00 PM, then Christmas Day closed.
    (CHRISTMAS, ny(2026, 12, 24, 9), utc(2026, 12, 24, 18), "by 1:00 PM ET today"),
    (CHRISTMAS, ny(2026, 12, 24, 11, 30), utc(2026, 12, 24, 18), "by 1:00 PM ET today"),
    (CHRISTMAS, ny(2026, 12, 24, 12), utc(2026, 12, 24, 18), "by 1:00 PM ET today"),
    (CHRISTMAS, ny(2026, 12, 24, 12, 0, 1), utc(2026, 12, 26, 22), "by Saturday, 5:00 PM ET"),
    (CHRISTMAS, ny(2026, 12, 24, 12, 45), utc(2026, 12, 26, 22), "by Saturday, 5:00 PM ET"),
    (CHRISTMAS, ny(2026, 12, 23, 16, 30), utc(2026, 12, 24, 18),
     "by 1:00 PM ET tomorrow (Thursday)"),
    (CHRISTMAS, ny(2026, 12, 25, 10), utc(2026, 12, 26, 22), "by 5:00 PM ET tomorrow (Saturday)"),
    (CHRISTMAS_WEEKDAYS, ny(2026, 12, 24, 12, 45), utc(2026, 12, 28, 22),
     "by Monday, 5:00 PM ET"),
    # A stretch too short to reply in is skipped; a noon closing reads "12:00 noon".
    (SHORT_MORNING, ny(2026, 6, 10, 20), utc(2026, 6, 12, 21), "by Friday, 5:00 PM ET"),
    (NOON_CLOSE, ny(2026, 6, 10, 20), utc(2026, 6, 11, 16),
     "by 12:00 noon ET tomorrow (Thursday)"),
    # A long holiday closure: the date is given from a week on.
    (SUMMER_BREAK, ny(2026, 6, 30, 16, 30), utc(2026, 7, 13, 21),
     "by Monday, July 13, 5:00 PM ET"),
    (SUMMER_BREAK, ny(2026, 7, 6, 12), utc(2026, 7, 13, 21), "by Monday, July 13, 5:00 PM ET"),
    (SUMMER_BREAK, ny(2026, 7, 7, 12), utc(2026, 7, 13, 21), "by Monday, 5:00 PM ET"),
    # DST days with regular hours: the promised wall time stays 5:00 PM.
    (DAILY, ny(2026, 3, 7, 22), utc(2026, 3, 8, 21), "by 5:00 PM ET tomorrow (Sunday)"),
    (DAILY, ny(2026, 3, 8, 16, 38), utc(2026, 3, 9, 21), "by 5:00 PM ET tomorrow (Monday)"),
    (DAILY, ny(2026, 10, 31, 22), utc(2026, 11, 1, 22), "by 5:00 PM ET tomorrow (Sunday)"),
    (DAILY, ny(2026, 11, 1, 1, 30, fold=1), utc(2026, 11, 1, 22), "by 5:00 PM ET today"),
    # DST days with night hours: the hour left is real time, not wall time.
    (FALL_BACK_NIGHT, ny(2026, 11, 1, 1, 30), utc(2026, 11, 1, 7), "by 2:00 AM ET today"),
    (FALL_BACK_NIGHT, ny(2026, 11, 1, 1, 30, fold=1), utc(2026, 11, 2, 22),
     "by 5:00 PM ET tomorrow (Monday)"),
    (SPRING_FORWARD_NIGHT, ny(2026, 3, 8, 1, 30), utc(2026, 3, 8, 7, 30), "by 3:30 AM ET today"),
    (SPRING_FORWARD_NIGHT, ny(2026, 3, 8, 1, 31), utc(2026, 3, 9, 21),
     "by 5:00 PM ET tomorrow (Monday)"),
    # Nothing open within the horizon.
    (WINTER_61, ny(2026, 1, 1, 12), None, "as soon as the clinic reopens"),
    (NEVER, ny(2026, 6, 10, 12), None, "as soon as the clinic reopens"),
]  # fmt: skip


@pytest.mark.parametrize(("schedule", "now", "by", "words"), REPLY_BY_TABLE)
def test_reply_by(schedule, now, by, words):
    assert reply_by(now, schedule) == by
    assert format_reply_by(by, schedule.tz, now) == words
    # The same instant written in another zone gives the same promise.
    assert reply_by(now.astimezone(ZoneInfo("Asia/Tokyo")), schedule) == by


@pytest.mark.parametrize(
    ("by", "words"),
    [
        (utc(2026, 12, 3, 17), "by Thursday, December 3, 12:00 noon ET"),
        (utc(2026, 12, 1, 22), "by Tuesday, December 1, 5:00 PM ET"),
        (utc(2027, 1, 4, 14, 30), "by Monday, January 4, 9:30 AM ET"),
        (None, "as soon as the clinic reopens"),
    ],
)
def test_format_reply_by_without_now_always_gives_the_date(by, words):
    assert format_reply_by(by, NY) == words


def test_format_reply_by_needs_aware_instants():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_reply_by(datetime(2026, 12, 1, 17), NY)
    with pytest.raises(ValueError, match="timezone-aware"):
        reply_by(datetime(2026, 12, 1, 17), DAILY)


@pytest.mark.parametrize(
    ("day", "year", "words"),
    [
        (date(2026, 12, 24), True, "Thursday, December 24, 2026"),
        (date(2027, 1, 1), False, "Friday, January 1"),
    ],
)
def test_format_date(day, year, words):
    assert format_date(day, year=year) == words


def test_the_promise_sweeps_a_christmas_eve_minute_by_minute():
    """Every minute from 9:00 AM on Christmas Eve to the next morning: 'today' only while an
    hour of opening time is left, and never a promise inside a closed day."""
    start = ny(2026, 12, 24, 9)
    for minute in range(24 * 60):
        now = start + minute * MIN
        by = reply_by(now, CHRISTMAS)
        words = format_reply_by(by, NY, now)
        if now <= ny(2026, 12, 24, 12):
            assert (by, words) == (utc(2026, 12, 24, 18), "by 1:00 PM ET today"), now
        else:
            assert by == utc(2026, 12, 26, 22), now
            assert "today" not in words and "Christmas" not in words


@PROPERTY
@given(scenarios())
def test_the_promise_is_inside_opening_hours_and_after_the_submission(scenario):
    schedule, now = scenario
    by = reply_by(now, schedule)
    today = local_day(now, schedule)
    spans = ref_intervals(schedule, today - timedelta(days=1), today + timedelta(days=HORIZON_DAYS))
    enough = [(o, c) for o, c in spans if c - max(o, now) >= HOUR]
    if by is None:
        assert enough == []
        assert format_reply_by(by, schedule.tz, now) == "as soon as the clinic reopens"
        return
    # After the submission, with at least an hour of opening time between the two.
    assert by - now >= HOUR
    # The end of an opening stretch: open just before it, and the first such stretch.
    assert status_at(by - US, schedule).state in OPEN
    assert by == enough[0][1]
    assert open_time_between(now, by, schedule) >= HOUR
    # Nothing earlier would have done: every stretch ending before it had under an hour left.
    assert all(c - max(o, now) < HOUR for o, c in spans if now < c < by)
    words = format_reply_by(by, schedule.tz, now)
    clock = f"{format_time(by.astimezone(schedule.tz).time())} ET"
    ahead = (local_day(by, schedule) - today).days
    name = WEEKDAY[by.astimezone(schedule.tz).weekday()]
    assert ahead >= 0
    if ahead == 0:
        assert words == f"by {clock} today"
    elif ahead == 1:
        assert words == f"by {clock} tomorrow ({name})"
    elif ahead < 7:
        assert words == f"by {name}, {clock}"
    else:
        assert re.fullmatch(rf"by {name}, [A-Z][a-z]+ \d{{1,2}}, {re.escape(clock)}", words)


@PROPERTY
@given(scenarios(), st.sampled_from(OTHER_ZONES))
def test_the_promise_does_not_depend_on_the_zone_of_now(scenario, zone):
    schedule, now = scenario
    assert reply_by(now.astimezone(zone), schedule) == reply_by(now, schedule)


def test_open_intervals_are_remembered_per_schedule_and_stay_right():
    from webapp import hours

    schedule = with_overrides(
        Schedule(tz=NY, weekly=(NINE_TO_FIVE,) * 5 + ((time(10), time(14)), None)),
        [Override(date(2026, 3, 8), "Spring forward", time(1, 30), time(3, 30))],
    )
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(3 * 365)]
    # Asked twice (the second time from memory), each day agrees with a fresh schedule's
    # answer: DST days, weekends and the override included.
    for day in days + days:
        fresh = Schedule(tz=NY, weekly=schedule.weekly, overrides=schedule.overrides)
        assert open_intervals(schedule, day) == hours._open_interval(fresh, day)
    assert len(schedule._intervals) <= hours.INTERVALS_KEPT
    # The memory belongs to one schedule: with an override added, the answer changes.
    closed = with_overrides(schedule, [Override(date(2026, 12, 2), "Closed")])
    assert open_intervals(schedule, date(2026, 12, 2)) is not None
    assert open_intervals(closed, date(2026, 12, 2)) is None
